// Fuzzes DeviceManager::Restore with arbitrary bytes and with mutations of a real snapshot
// (bytes flipped, overwritten, cut or inserted, in the sealed bytes or inside the payload
// with the checksum made good again, so the mutation reaches the parser and the checks).
// Whatever the input:
// - a refused restore leaves the target managers exactly as they were;
// - an accepted one places exactly what the snapshot decodes to, its devices answer
//   accesses without fault, a snapshot of the result decodes to the same placement, and
//   removing every device gives every resource back.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "dbs_device/devices/cmos_rtc.h"
#include "dbs_device/devices/dummy.h"
#include "dbs_device/devices/i8042.h"
#include "dbs_device/devices/serial16550.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/device_model.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/manager/snapshot.h"
#define DBS_FUZZ_TARGET "snapshot_fuzz"
#include "dbs_device/tests/fuzz/fuzz_input.h"

namespace dbs::fuzz {
namespace {

absl::Time Clock() { return absl::FromUnixSeconds(1'800'000'000); }

DeviceFactory MakeFactory() {
  DeviceFactory f;
  (void)f.Register(Serial16550::kKind, RestoreManaged<Serial16550>([](uint8_t) {}, [](bool) {}));
  (void)f.Register(I8042::kKind, RestoreManaged<I8042>([] {}));
  (void)f.Register(CmosRtc::kKind, RestoreManaged<CmosRtc>(&Clock));
  (void)f.Register(DummyDevice::kKind, RestoreManaged<DummyDevice>());
  return f;
}

// A real snapshot: every device kind, several resource kinds, a shared IRQ, state in flight.
const std::string& RealSnapshot() {
  static const std::string* const bytes = [] {
    DeviceModel s;
    auto uart = std::make_shared<ManagedDevice<Serial16550>>("ttyS0", Serial16550::Constraints(),
                                                             [](uint8_t) {});
    (void)s.devices().AddDevice(uart);
    uart->WithLock([](Serial16550& d) { d.EnqueueInput(std::vector<uint8_t>{1, 2, 3}); });
    (void)s.devices().AddDevice(
        std::make_shared<ManagedDevice<I8042>>("i8042", I8042::Constraints(), [] {}));
    (void)s.devices().AddDevice(
        std::make_shared<ManagedDevice<CmosRtc>>("rtc", CmosRtc::Constraints(), &Clock));
    for (int i = 0; i < 2; ++i) {
      (void)s.devices().AddDevice(std::make_shared<ManagedDevice<DummyDevice>>(
          "dummy",
          std::vector<ResourceConstraint>{PioConstraint{8}, MmioConstraint{0x1000},
                                          LegacyIrqConstraint{10, true}, PciMsiIrqConstraint{2},
                                          KvmMemSlotConstraint{2}},
          std::function<uint8_t(uint64_t)>{}, true));
    }
    absl::StatusOr<std::string> saved = s.devices().Snapshot();
    if (!saved.ok()) std::abort();
    return new std::string(*std::move(saved));
  }();
  return *bytes;
}

void Mutate(FuzzInput& in, std::string& bytes) {
  const int edits = 1 + in.Below(4);
  for (int i = 0; i < edits && !bytes.empty(); ++i) {
    const size_t at = (size_t{in.U16()}) % bytes.size();
    switch (in.Below(4)) {
      case 0:
        bytes[at] = static_cast<char>(bytes[at] ^ (1 << in.Below(8)));
        break;
      case 1:
        bytes[at] = static_cast<char>(in.U8());
        break;
      case 2:
        bytes.resize(at);
        break;
      default:
        bytes.insert(at, 1, static_cast<char>(in.U8()));
        break;
    }
  }
}

// What can be observed of a target stack.
struct Observed {
  std::vector<DeviceId> ids;
  size_t ranges;
  uint64_t generation;
  std::vector<Resource> probe;
  bool operator==(const Observed&) const = default;
};

Observed Observe(DeviceModel& s) {
  Observed o{s.devices().DeviceIds(), s.io().range_count(), s.io().generation(), {}};
  absl::StatusOr<DeviceResources> got = s.resources().AllocateDeviceResources(
      {PioConstraint{8}, MmioConstraint{0x1000}, LegacyIrqConstraint{}, PciMsixIrqConstraint{2},
       KvmMemSlotConstraint{1}, LegacyIrqConstraint{10, true}, MemConstraint{0x1000}});
  if (got.ok()) {
    o.probe.assign(got->begin(), got->end());
    DBS_FUZZ_CHECK(s.resources().FreeDeviceResources(*got).ok(), "probe freed");
  }
  return o;
}

void RunOne(FuzzInput& in) {
  std::string bytes;
  switch (in.Below(3)) {
    case 0:  // arbitrary bytes
      while (!in.empty()) bytes.push_back(static_cast<char>(in.U8()));
      break;
    case 1:  // a real snapshot, mutated
      bytes = RealSnapshot();
      Mutate(in, bytes);
      break;
    default: {  // a real snapshot's payload, mutated and sealed again
      std::string payload(*UnsealSnapshot(RealSnapshot(), kDeviceManagerPayload));
      Mutate(in, payload);
      bytes = SealSnapshot(kDeviceManagerPayload, payload);
      break;
    }
  }

  static const DeviceFactory* const factory = new DeviceFactory(MakeFactory());
  DeviceModel target;
  // Something of the VMM's own is there already.
  DBS_FUZZ_CHECK(
      target.io()
          .RegisterDeviceIo(std::make_shared<MutexDevice<DummyDevice>>(), {PioRange{0x80, 1}})
          .ok(),
      "setup");
  const Observed before = Observe(target);
  const absl::Status status = target.devices().Restore(bytes, *factory);
  const absl::StatusOr<DeviceManagerSnapshot> decoded = DecodeDeviceManagerSnapshot(bytes);
  if (!status.ok()) {
    DBS_FUZZ_CHECK(Observe(target) == before, "a refused restore changed the target");
    return;
  }
  DBS_FUZZ_CHECK(decoded.ok(), "a restore accepted what does not decode");
  DBS_FUZZ_CHECK(target.devices().device_count() == decoded->devices.size(), "device count");
  for (const DeviceRecord& d : decoded->devices) {
    absl::StatusOr<DeviceResources> got = target.devices().GetResources(d.id);
    DBS_FUZZ_CHECK(got.ok() && *got == d.allocated, "the resources placed");
    for (const Resource& r : d.registered) {
      uint8_t data[4] = {};
      if (const auto* pio = std::get_if<PioRange>(&r)) {
        const uint16_t port = pio->base.raw_value();
        DBS_FUZZ_CHECK(target.io().PioRead(port, absl::MakeSpan(data, 1)).ok(), "PIO answered");
        (void)target.io().PioWrite(port, absl::MakeConstSpan(data, 1));
      } else if (const auto* mmio = std::get_if<MmioRange>(&r)) {
        DBS_FUZZ_CHECK(target.io().MmioRead(mmio->base.raw_value(), absl::MakeSpan(data, 1)).ok(),
                       "MMIO answered");
      }
    }
  }
  absl::StatusOr<std::string> again = target.devices().Snapshot();
  DBS_FUZZ_CHECK(again.ok(), "a restored manager can be saved");
  absl::StatusOr<DeviceManagerSnapshot> redecoded = DecodeDeviceManagerSnapshot(*again);
  DBS_FUZZ_CHECK(redecoded.ok() && redecoded->devices.size() == decoded->devices.size(),
                 "the saved placement decodes");
  for (size_t i = 0; i < decoded->devices.size(); ++i) {
    const DeviceRecord& a = decoded->devices[i];
    const DeviceRecord& b = redecoded->devices[i];
    DBS_FUZZ_CHECK(a.id == b.id && a.name == b.name && a.kind == b.kind &&
                       a.allocated == b.allocated && a.registered == b.registered &&
                       a.shared_legacy_irq == b.shared_legacy_irq,
                   "the saved placement is the restored one");
  }
  for (DeviceId id : target.devices().DeviceIds()) {
    DBS_FUZZ_CHECK(target.devices().RemoveDevice(id).ok(), "remove a restored device");
  }
  Observed after = Observe(target);
  after.generation = before.generation;  // restore and removals published
  after.ids = before.ids;
  DBS_FUZZ_CHECK(after == before, "removing every restored device gives everything back");
}

}  // namespace
}  // namespace dbs::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dbs::fuzz::FuzzInput in(data, size);
  dbs::fuzz::RunOne(in);
  return 0;
}
