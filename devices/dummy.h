// devices/dummy.h — a device for tests, benchmarks and trace replay that counts (and
// optionally records) what it is sent and answers reads with a fixed pattern.
//
// A read of n bytes at offset o returns the bytes pattern(o), pattern(o + 1), ...,
// pattern(o + n - 1); without a pattern every byte reads 0xff, what a PC's floating bus
// reads. Every access is
// counted by kind; with `record` set, each is also logged with its base, offset and bytes.
//
// Thread-safety: a DeviceIoMut, not thread-safe: wrap it in MutexDevice or ManagedDevice.

#ifndef DBS_DEVICE_DEVICES_DUMMY_H_
#define DBS_DEVICE_DEVICES_DUMMY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "dbs_device/base/schema.h"
#include "dbs_device/device/device_io.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

struct DummyAccess {
  enum Kind : uint8_t { kMmioRead, kMmioWrite, kPioRead, kPioWrite } kind;
  uint64_t base;
  uint64_t offset;
  std::vector<uint8_t> data;  // what was read or written
  friend bool operator==(const DummyAccess&, const DummyAccess&) = default;
  static constexpr auto Schema();
};

struct DummyCounts {
  uint64_t mmio_reads = 0;
  uint64_t mmio_writes = 0;
  uint64_t pio_reads = 0;
  uint64_t pio_writes = 0;
  uint64_t bytes = 0;
  uint64_t total() const { return mmio_reads + mmio_writes + pio_reads + pio_writes; }
  friend bool operator==(const DummyCounts&, const DummyCounts&) = default;
};

// Everything a DummyDevice holds but its pattern: a plain value, for snapshots.
struct DummyDeviceState {
  bool record = false;
  DummyCounts counts;
  std::vector<DummyAccess> accesses;  // with `record` set
  friend bool operator==(const DummyDeviceState&, const DummyDeviceState&) = default;

  // The state as bytes, what a DeviceManager snapshot stores for the device, by Schema()
  // (a later version reads them; base/schema.h has the rules).
  std::string Encode() const { return schema::Encode(*this); }
  // The state in `bytes` (from Encode, of this version or another); kInvalidArgument,
  // naming the field, for bytes that do not parse or a value the device cannot hold.
  static absl::StatusOr<DummyDeviceState> Decode(absl::string_view bytes) {
    return schema::Decode<DummyDeviceState>(bytes);
  }
  // The fields, numbered for the snapshot format (defined below).
  static constexpr auto Schema();
};

class DummyDevice : public DeviceIoMut {
 public:
  // What a snapshot calls this device (DeviceFactory's key for it).
  static constexpr absl::string_view kKind = "dummy";

  // `pattern(offset)` is the byte a read returns at `offset` of the range.
  explicit DummyDevice(std::function<uint8_t(uint64_t)> pattern = {}, bool record = false);
  // A device restored from `state`, answering with `pattern` (passed in again, like the
  // outside world of the other devices).
  explicit DummyDevice(const DummyDeviceState& state,
                       std::function<uint8_t(uint64_t)> pattern = {});

  void Read(IoAddress base, IoAddress offset, absl::Span<uint8_t> data) override;
  void Write(IoAddress base, IoAddress offset, absl::Span<const uint8_t> data) override;
  void PioRead(PioAddress base, PioAddress offset, absl::Span<uint8_t> data) override;
  void PioWrite(PioAddress base, PioAddress offset, absl::Span<const uint8_t> data) override;

  const DummyCounts& counts() const { return state_.counts; }
  const std::vector<DummyAccess>& accesses() const { return state_.accesses; }
  const DummyDeviceState& state() const { return state_; }
  void Clear();

 private:
  void Fill(uint64_t offset, absl::Span<uint8_t> data) const;
  void Note(DummyAccess::Kind kind, uint64_t base, uint64_t offset, absl::Span<const uint8_t> data);

  std::function<uint8_t(uint64_t)> pattern_;
  DummyDeviceState state_;
};

constexpr auto DummyAccess::Schema() {
  namespace s = schema;
  return s::Message<DummyAccess>(
      "dummy access", s::Presence::kImplicit, s::Uint(1, "kind", &DummyAccess::kind),
      s::Uint(2, "base", &DummyAccess::base), s::Uint(3, "offset", &DummyAccess::offset),
      s::Bytes(4, "data", &DummyAccess::data),
      s::Check([](const DummyAccess& a) -> std::optional<s::Invalid> {
        if (a.kind > DummyAccess::kPioWrite) {
          return s::Invalid{"kind",
                            absl::StrCat(static_cast<int>(a.kind), " is no kind of access")};
        }
        return std::nullopt;
      }));
}

constexpr auto DummyDeviceState::Schema() {
  namespace s = schema;
  using S = DummyDeviceState;
  return s::Message<S>(
      "dummy state", s::Presence::kExplicit, s::Uint(1, "record", &S::record),
      s::Uint(
          2, "mmio_reads", [](auto& st) -> auto& { return st.counts.mmio_reads; }),
      s::Uint(
          3, "mmio_writes", [](auto& st) -> auto& { return st.counts.mmio_writes; }),
      s::Uint(
          4, "pio_reads", [](auto& st) -> auto& { return st.counts.pio_reads; }),
      s::Uint(
          5, "pio_writes", [](auto& st) -> auto& { return st.counts.pio_writes; }),
      s::Uint(
          6, "bytes", [](auto& st) -> auto& { return st.counts.bytes; }),
      s::Repeated(7, "accesses", &S::accesses));
}

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICES_DUMMY_H_
