#include "dbs_device/devices/dummy.h"

#include "absl/strings/str_cat.h"

#include <utility>

namespace dbs {

DummyDevice::DummyDevice(std::function<uint8_t(uint64_t)> pattern, bool record)
    : pattern_(std::move(pattern)) {
  state_.record = record;
}

DummyDevice::DummyDevice(const DummyDeviceState& state, std::function<uint8_t(uint64_t)> pattern)
    : pattern_(std::move(pattern)), state_(state) {}

void DummyDevice::Fill(uint64_t offset, absl::Span<uint8_t> data) const {
  for (size_t i = 0; i < data.size(); ++i) data[i] = pattern_ ? pattern_(offset + i) : 0xff;
}

void DummyDevice::Note(DummyAccess::Kind kind, uint64_t base, uint64_t offset,
                       absl::Span<const uint8_t> data) {
  switch (kind) {
    case DummyAccess::kMmioRead:
      ++state_.counts.mmio_reads;
      break;
    case DummyAccess::kMmioWrite:
      ++state_.counts.mmio_writes;
      break;
    case DummyAccess::kPioRead:
      ++state_.counts.pio_reads;
      break;
    case DummyAccess::kPioWrite:
      ++state_.counts.pio_writes;
      break;
  }
  state_.counts.bytes += data.size();
  if (state_.record) state_.accesses.push_back({kind, base, offset, {data.begin(), data.end()}});
}

void DummyDevice::Read(IoAddress base, IoAddress offset, absl::Span<uint8_t> data) {
  Fill(offset.raw_value(), data);
  Note(DummyAccess::kMmioRead, base.raw_value(), offset.raw_value(), data);
}

void DummyDevice::Write(IoAddress base, IoAddress offset, absl::Span<const uint8_t> data) {
  Note(DummyAccess::kMmioWrite, base.raw_value(), offset.raw_value(), data);
}

void DummyDevice::PioRead(PioAddress base, PioAddress offset, absl::Span<uint8_t> data) {
  Fill(offset.raw_value(), data);
  Note(DummyAccess::kPioRead, base.raw_value(), offset.raw_value(), data);
}

void DummyDevice::PioWrite(PioAddress base, PioAddress offset, absl::Span<const uint8_t> data) {
  Note(DummyAccess::kPioWrite, base.raw_value(), offset.raw_value(), data);
}

void DummyDevice::Clear() {
  state_.counts = {};
  state_.accesses.clear();
}

}  // namespace dbs
