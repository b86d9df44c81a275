// base/wire.h — the protocol-buffer wire format, written and read by hand.
//
// Snapshots are protocol buffers: a reader skips the fields it does not know and reads
// the fields a snapshot lacks as their defaults, which is the compatibility a snapshot
// format needs. The library writes and reads that format itself, over field tables
// (base/schema.h), rather than through generated classes: a device's state is then
// declared once, beside the device, and no layer depends on protoc or libprotobuf. The
// bytes are exactly what protobuf's C++ serializer writes for the same message (fields in
// ascending number, minimal varints); tests/manager/snapshot_compat_test checks that
// against Debian's protobuf.
//
// Writer appends fields to a std::string. Reader splits a message into its fields; it
// refuses what protobuf's parser refuses (a truncated varint or length, field number 0,
// wire types 6 and 7, an end-group without its start, groups nested past 100) and skips
// groups of unknown fields as protobuf does.
//
// Cost: linear in the bytes; no allocation but the output string's.
// Thread-safety: plain values.

#ifndef DBS_DEVICE_BASE_WIRE_H_
#define DBS_DEVICE_BASE_WIRE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace dbs::wire {

enum class WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// One field of a message as read: for kVarint, kFixed64 and kFixed32 the value is in
// `value`; for kLengthDelimited the payload is `bytes` (a view into the message).
struct Field {
  uint32_t number = 0;
  WireType type = WireType::kVarint;
  uint64_t value = 0;
  absl::string_view bytes;
};

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  // A varint field (uint32/64, int32/64 in two's complement, bool, enum).
  void Varint(uint32_t number, uint64_t value);
  // A length-delimited field (bytes, string).
  void Bytes(uint32_t number, absl::string_view bytes);
  // A nested message: `write(Writer&)` writes its fields, then the length goes in front.
  template <typename F>
  void Message(uint32_t number, F&& write) {
    Tag(number, WireType::kLengthDelimited);
    const size_t start = out_.size();
    write(*this);
    PrefixLength(start);
  }

 private:
  void Tag(uint32_t number, WireType type);
  void PutVarint(uint64_t value);
  // Inserts the varint length of out_[start, end) at `start`.
  void PrefixLength(size_t start);

  std::string& out_;
};

class Reader {
 public:
  explicit Reader(absl::string_view message) : rest_(message) {}

  // The next field; false at the end of the message or on malformed input (status()).
  // Groups are skipped whole, as unknown fields.
  bool Next(Field& field);
  // kInvalidArgument for malformed input, once Next has returned false on it.
  const absl::Status& status() const { return status_; }

 private:
  bool ReadVarint(uint64_t& value);
  bool Fail(absl::string_view why);
  // Skips the fields of a group up to its end-group tag for `number`.
  bool SkipGroup(uint32_t number, int depth);
  bool ReadOne(Field& field, int depth);

  absl::string_view rest_;
  absl::Status status_;
};

// The number of bytes `value` takes as a varint.
int VarintSize(uint64_t value);

}  // namespace dbs::wire

#endif  // DBS_DEVICE_BASE_WIRE_H_
