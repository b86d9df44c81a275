// quickstart: the original crate's README example in C++, then a hot-add and hot-remove
// through DeviceManager.
//
//   ./bazelw run //examples:quickstart
//
// A dummy device is registered with an MMIO range at 0 (4 KiB) and a PIO range at 0
// (32 ports); a 2-byte MMIO write and a 4-byte PIO read reach it as (base, offset, data).

#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/io_manager.h"
#include "dbs_device/resources/resource_manager.h"

namespace {

std::string Hex(absl::Span<const uint8_t> data) {
  return absl::StrJoin(data, " ",
                       [](std::string* out, uint8_t b) { absl::StrAppendFormat(out, "%02x", b); });
}

// Prints what it is sent and answers reads with 0xa0 + offset.
class DummyDevice : public dbs::Device {
 public:
  std::string name() const override { return "dummy"; }
  std::vector<dbs::ResourceConstraint> GetResourceConstraints() const override {
    return {dbs::PioConstraint{8}, dbs::MmioConstraint{0x1000}};
  }
  void Read(dbs::IoAddress base, dbs::IoAddress offset, absl::Span<uint8_t> data) override {
    Fill(offset.raw_value(), data);
    std::printf("  device: MMIO read  base=%#llx offset=%#llx -> [%s]\n",
                static_cast<unsigned long long>(base.raw_value()),
                static_cast<unsigned long long>(offset.raw_value()), Hex(data).c_str());
  }
  void Write(dbs::IoAddress base, dbs::IoAddress offset, absl::Span<const uint8_t> data) override {
    std::printf("  device: MMIO write base=%#llx offset=%#llx data=[%s]\n",
                static_cast<unsigned long long>(base.raw_value()),
                static_cast<unsigned long long>(offset.raw_value()), Hex(data).c_str());
  }
  void PioRead(dbs::PioAddress base, dbs::PioAddress offset, absl::Span<uint8_t> data) override {
    Fill(offset.raw_value(), data);
    std::printf("  device: PIO read   base=%#x offset=%#x -> [%s]\n", base.raw_value(),
                offset.raw_value(), Hex(data).c_str());
  }
  void PioWrite(dbs::PioAddress base, dbs::PioAddress offset,
                absl::Span<const uint8_t> data) override {
    std::printf("  device: PIO write  base=%#x offset=%#x data=[%s]\n", base.raw_value(),
                offset.raw_value(), Hex(data).c_str());
  }

 private:
  static void Fill(uint64_t offset, absl::Span<uint8_t> data) {
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(0xa0 + offset + i);
  }
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "quickstart: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The original crate's README example, then a hot-add and hot-remove.\n"
      "  ./bazelw run //examples:quickstart");
  absl::ParseCommandLine(argc, argv);
  // 1. The original README: register by hand, dispatch.
  std::printf("Register a dummy device at MMIO [0, 0xfff] and PIO [0, 0x1f]\n");
  dbs::IoManager io(dbs::IoManager::Options{.statistics = true});
  auto dummy = std::make_shared<DummyDevice>();
  if (absl::Status s =
          io.RegisterDeviceIo(dummy, {dbs::MmioRange{0, 0x1000}, dbs::PioRange{0, 0x20}});
      !s.ok()) {
    return Fail(s);
  }
  const uint8_t two_bytes[] = {0x12, 0x34};
  std::printf("MmioWrite(0x10, [12 34])\n");
  if (absl::Status s = io.MmioWrite(0x10, two_bytes); !s.ok()) return Fail(s);
  uint8_t four_bytes[4] = {};
  std::printf("PioRead(0x8, 4 bytes)\n");
  if (absl::Status s = io.PioRead(0x8, four_bytes); !s.ok()) return Fail(s);
  std::printf("  guest got [%s]\n", Hex(four_bytes).c_str());
  std::printf("PioRead(0x1e, 4 bytes), past the end of the range\n");
  std::printf("  -> %s\n", io.PioRead(0x1e, four_bytes).ToString().c_str());
  if (absl::Status s = io.UnregisterDeviceIo({dbs::MmioRange{0, 0x1000}, dbs::PioRange{0, 0x20}});
      !s.ok()) {
    return Fail(s);
  }

  // 2. The whole flow: the device states its needs, DeviceManager places it.
  std::printf("\nHot-add through DeviceManager (x86 default pools)\n");
  dbs::ResourceManager resources = dbs::ResourceManager::X86Defaults();
  dbs::DeviceManager devices(resources, io);
  absl::StatusOr<dbs::DeviceId> id = devices.AddDevice(std::make_shared<DummyDevice>());
  if (!id.ok()) return Fail(id.status());
  absl::StatusOr<dbs::DeviceResources> placed = devices.GetResources(*id);
  if (!placed.ok()) return Fail(placed.status());
  const uint16_t port = placed->PioRanges()[0].base.raw_value();
  const uint64_t mmio = placed->MmioRanges()[0].base.raw_value();
  std::printf("  device %llu placed at PIO %#x and MMIO %#llx\n",
              static_cast<unsigned long long>(*id), port, static_cast<unsigned long long>(mmio));
  if (absl::Status s = io.PioWrite(port + 1, absl::MakeConstSpan(two_bytes, 1)); !s.ok()) {
    return Fail(s);
  }
  if (absl::Status s = io.MmioRead(mmio + 4, four_bytes); !s.ok()) return Fail(s);
  std::printf("  stats: %s\n", io.GetDeviceStats(devices.GetDevice(*id).get())->ToString().c_str());
  std::printf("Hot-remove\n");
  if (absl::Status s = devices.RemoveDevice(*id); !s.ok()) return Fail(s);
  std::printf("  PioWrite(%#x) after removal -> %s\n", port,
              io.PioWrite(port, absl::MakeConstSpan(two_bytes, 1)).ToString().c_str());
  return 0;
}
