// devices/internal/state_codec.h — what the devices' Decode functions share: parsing the
// bytes and copying optional fields into a state struct with their range checked.
//
// Decoding starts from a default-constructed state (the device's power-on values) and
// overwrites only the fields present in the bytes, so a snapshot written before a field
// existed restores that field to its power-on value.

#ifndef DBS_DEVICE_DEVICES_INTERNAL_STATE_CODEC_H_
#define DBS_DEVICE_DEVICES_INTERNAL_STATE_CODEC_H_

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace dbs::devices_internal {

// Copies an unsigned field into `out` when present; kInvalidArgument if it does not fit.
class FieldReader {
 public:
  explicit FieldReader(absl::string_view what) : what_(what) {}

  template <typename T, typename V>
  void Unsigned(bool present, V value, absl::string_view field, T& out) {
    if (!present || !status_.ok()) return;
    if (value > std::numeric_limits<T>::max()) {
      Fail(field, absl::StrCat(value, " does not fit in ", sizeof(T) * 8, " bits"));
      return;
    }
    out = static_cast<T>(value);
  }
  void Bool(bool present, bool value, bool& out) {
    if (present) out = value;
  }
  // Records a violated invariant (the first one wins).
  void Fail(absl::string_view field, absl::string_view why) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(absl::StrCat(what_, " state, field ", field, ": ", why));
    }
  }
  const absl::Status& status() const { return status_; }

 private:
  std::string what_;
  absl::Status status_;
};

// The state `bytes` hold: parsed as Message, then `fill(message, reader, state)` copies
// the fields present into a default-constructed (power-on) State through the reader, which
// records the first value out of range. kInvalidArgument, naming `what` and the field,
// for bytes that do not parse or a value the device cannot hold.
template <typename State, typename Message, typename Fill>
absl::StatusOr<State> DecodeState(absl::string_view bytes, absl::string_view what, Fill fill) {
  Message message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", bytes.size(), " bytes that do not parse as its state"));
  }
  State state;
  FieldReader reader(what);
  fill(message, reader, state);
  if (!reader.status().ok()) return reader.status();
  return state;
}

}  // namespace dbs::devices_internal

#endif  // DBS_DEVICE_DEVICES_INTERNAL_STATE_CODEC_H_
