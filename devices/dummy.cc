#include "dbs_device/devices/dummy.h"

#include "absl/strings/str_cat.h"
#include "dbs_device/devices/internal/state_codec.h"
#include "devices/internal/state.pb.h"

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

std::string DummyDeviceState::Encode() const {
  devices::v1::DummyDeviceState m;
  m.set_record(record);
  m.set_mmio_reads(counts.mmio_reads);
  m.set_mmio_writes(counts.mmio_writes);
  m.set_pio_reads(counts.pio_reads);
  m.set_pio_writes(counts.pio_writes);
  m.set_bytes(counts.bytes);
  for (const DummyAccess& a : accesses) {
    devices::v1::DummyAccess* out = m.add_accesses();
    out->set_kind(a.kind);
    out->set_base(a.base);
    out->set_offset(a.offset);
    out->set_data(a.data.data(), a.data.size());
  }
  return m.SerializeAsString();
}

absl::StatusOr<DummyDeviceState> DummyDeviceState::Decode(absl::string_view bytes) {
  return devices_internal::DecodeState<DummyDeviceState, devices::v1::DummyDeviceState>(
      bytes, "dummy",
      [](const devices::v1::DummyDeviceState& m, devices_internal::FieldReader& r,
         DummyDeviceState& st) {
        r.Bool(m.has_record(), m.record(), st.record);
        r.Unsigned(m.has_mmio_reads(), m.mmio_reads(), "mmio_reads", st.counts.mmio_reads);
        r.Unsigned(m.has_mmio_writes(), m.mmio_writes(), "mmio_writes", st.counts.mmio_writes);
        r.Unsigned(m.has_pio_reads(), m.pio_reads(), "pio_reads", st.counts.pio_reads);
        r.Unsigned(m.has_pio_writes(), m.pio_writes(), "pio_writes", st.counts.pio_writes);
        r.Unsigned(m.has_bytes(), m.bytes(), "bytes", st.counts.bytes);
        for (const devices::v1::DummyAccess& a : m.accesses()) {
          if (a.kind() > DummyAccess::kPioWrite) {
            r.Fail("accesses.kind", absl::StrCat(a.kind(), " is no kind of access"));
            break;
          }
          st.accesses.push_back(DummyAccess{static_cast<DummyAccess::Kind>(a.kind()),
                                            a.base(),
                                            a.offset(),
                                            {a.data().begin(), a.data().end()}});
        }
      });
}

}  // namespace dbs
