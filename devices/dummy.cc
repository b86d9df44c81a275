#include "dbs_device/devices/dummy.h"

#include <utility>

namespace dbs {

DummyDevice::DummyDevice(std::function<uint8_t(uint64_t)> pattern, bool record)
    : pattern_(std::move(pattern)), record_(record) {}

void DummyDevice::Fill(uint64_t offset, absl::Span<uint8_t> data) const {
  for (size_t i = 0; i < data.size(); ++i) data[i] = pattern_ ? pattern_(offset + i) : 0xff;
}

void DummyDevice::Note(DummyAccess::Kind kind, uint64_t base, uint64_t offset,
                       absl::Span<const uint8_t> data) {
  switch (kind) {
    case DummyAccess::kMmioRead:
      ++counts_.mmio_reads;
      break;
    case DummyAccess::kMmioWrite:
      ++counts_.mmio_writes;
      break;
    case DummyAccess::kPioRead:
      ++counts_.pio_reads;
      break;
    case DummyAccess::kPioWrite:
      ++counts_.pio_writes;
      break;
  }
  counts_.bytes += data.size();
  if (record_) accesses_.push_back({kind, base, offset, {data.begin(), data.end()}});
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
  counts_ = {};
  accesses_.clear();
}

}  // namespace dbs
