// The README's first program: a custom device, placed by DeviceManager, dispatched to from
// a (pretend) vCPU exit, and removed. Built by CI so the README's copy cannot rot.
//
//   ./bazelw run //examples:first_program
#include <atomic>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/types/span.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/io_manager.h"
#include "dbs_device/resources/resource_manager.h"

// A device: 4 ports anywhere; reading a port returns how often the guest wrote to the
// device. Handlers may run on several vCPU threads at once, hence the atomic.
class WriteCounter : public dbs::Device {
 public:
  std::string name() const override { return "write-counter"; }
  std::vector<dbs::ResourceConstraint> GetResourceConstraints() const override {
    return {dbs::PioConstraint{.size = 4}};
  }
  void PioWrite(dbs::PioAddress, dbs::PioAddress, absl::Span<const uint8_t>) override {
    writes_.fetch_add(1, std::memory_order_relaxed);
  }
  void PioRead(dbs::PioAddress, dbs::PioAddress, absl::Span<uint8_t> data) override {
    for (uint8_t& b : data) b = static_cast<uint8_t>(writes_.load(std::memory_order_relaxed));
  }

 private:
  std::atomic<uint32_t> writes_{0};
};

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The README's first program: a custom device placed, dispatched to and removed.\n"
      "  ./bazelw run //examples:first_program");
  absl::ParseCommandLine(argc, argv);
  dbs::ResourceManager resources = dbs::ResourceManager::X86Defaults();
  dbs::IoManager io;
  dbs::DeviceManager devices(resources, io);

  absl::StatusOr<dbs::DeviceId> id = devices.AddDevice(std::make_shared<WriteCounter>());
  if (!id.ok()) {
    std::cerr << "AddDevice: " << id.status() << "\n";
    return 1;
  }
  const uint16_t port = devices.GetResources(*id)->PioRanges()[0].base.raw_value();

  // What a vCPU thread does on an OUT and an IN exit at `port`.
  const uint8_t out = 0x42;
  uint8_t in = 0;
  absl::Status s = io.PioWrite(port, absl::MakeConstSpan(&out, 1));
  if (s.ok()) s = io.PioRead(port + 1, absl::MakeSpan(&in, 1));
  if (!s.ok()) {
    std::cerr << "dispatch: " << s << "\n";
    return 1;
  }
  std::cout << "write-counter at port 0x" << std::hex << port << " counted " << std::dec << int{in}
            << " write(s)\n";

  // After RemoveDevice returns, no vCPU calls the device again.
  if (absl::Status r = devices.RemoveDevice(*id); !r.ok()) {
    std::cerr << "RemoveDevice: " << r << "\n";
    return 1;
  }
  std::cout << "after removal: " << io.PioRead(port, absl::MakeSpan(&in, 1)) << "\n";
  return 0;
}
