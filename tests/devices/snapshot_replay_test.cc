// The real Linux boot as the oracle for snapshot and restore: every access the kernel made
// to COM1, the i8042 and the RTC is replayed through devices placed by a DeviceManager;
// after every 1,000th access the whole stack is saved to bytes, destroyed, and restored
// into brand-new managers, and the replay goes on there. Every read must still return what
// QEMU returned, and the console must come out byte for byte.

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dbs_device/devices/cmos_rtc.h"
#include "dbs_device/devices/i8042.h"
#include "dbs_device/devices/serial16550.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/device_model.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/testing/boot_trace.h"
#include "dbs_device/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

constexpr uint64_t kSnapshotEvery = 1000;

// What the devices see of the world, kept across restores: the console, resets, the clock.
struct World {
  std::string console;
  int resets = 0;
  uint32_t line = 0;  // the trace line being replayed; the RTC's clock follows it
  trace::RecordedClock clock;
  absl::Time Now() const { return clock.At(line); }
};

DeviceFactory FactoryFor(World& world) {
  DeviceFactory factory;
  EXPECT_OK(factory.Register(Serial16550::kKind, RestoreManaged<Serial16550>([&world](uint8_t b) {
                               world.console.push_back(char(b));
                             })));
  EXPECT_OK(factory.Register(I8042::kKind, RestoreManaged<I8042>([&world] { ++world.resets; })));
  EXPECT_OK(factory.Register(CmosRtc::kKind, RestoreManaged<CmosRtc>(std::function<absl::Time()>(
                                                 [&world] { return world.Now(); }))));
  return factory;
}

TEST(SnapshotReplayTest, TheBootReadsWhatQemuAnsweredAcrossARestoreEveryThousandAccesses) {
  absl::StatusOr<std::vector<trace::Access>> accesses =
      trace::LoadTrace(trace::RunfilePath("testing/traces/pc.trace.gz"));
  ASSERT_OK(accesses.status());
  std::optional<trace::RecordedClock> clock = trace::InferRtcClock(*accesses);
  ASSERT_TRUE(clock.has_value());
  World world{.clock = *clock};
  const DeviceFactory factory = FactoryFor(world);

  auto stack = std::make_unique<DeviceModel>();
  ASSERT_OK(stack->devices()
                .AddDevice(std::make_shared<ManagedDevice<Serial16550>>(
                    "ttyS0", Serial16550::Constraints(),
                    [&world](uint8_t b) { world.console.push_back(char(b)); }))
                .status());
  ASSERT_OK(stack->devices()
                .AddDevice(std::make_shared<ManagedDevice<I8042>>("i8042", I8042::Constraints(),
                                                                  [&world] { ++world.resets; }))
                .status());
  ASSERT_OK(stack->devices()
                .AddDevice(std::make_shared<ManagedDevice<CmosRtc>>(
                    "rtc", CmosRtc::Constraints(),
                    std::function<absl::Time()>([&world] { return world.Now(); })))
                .status());

  auto device_of = [](uint64_t port) -> const char* {
    if (port >= 0x3f8 && port <= 0x3ff) return "serial";
    if (port == 0x60 || port == 0x64) return "i8042";
    if (port == 0x70 || port == 0x71) return "rtc";
    return nullptr;
  };
  std::map<std::string, uint64_t> reads, mismatches;
  uint64_t replayed = 0, restores = 0, snapshot_bytes = 0;
  for (const trace::Access& a : *accesses) {
    const char* device = a.pio ? device_of(a.address) : nullptr;
    if (device == nullptr) continue;
    world.line = a.line;
    std::vector<uint8_t> bytes = trace::ValueBytes(a.value, a.size);
    const auto port = static_cast<uint16_t>(a.address);
    if (a.write) {
      ASSERT_OK(stack->io().PioWrite(port, bytes)) << "line " << a.line;
    } else {
      ASSERT_OK(stack->io().PioRead(port, absl::MakeSpan(bytes))) << "line " << a.line;
      ++reads[device];
      if (trace::BytesValue(bytes) != a.value) {
        ++mismatches[device];
        ADD_FAILURE() << "line " << a.line << ": port 0x" << std::hex << a.address << " read 0x"
                      << trace::BytesValue(bytes) << ", QEMU read 0x" << a.value;
      }
    }
    if (++replayed % kSnapshotEvery == 0) {
      absl::StatusOr<std::string> saved = stack->devices().Snapshot();
      ASSERT_OK(saved.status());
      snapshot_bytes = saved->size();
      stack.reset();  // every manager and device of the old stack is gone
      stack = std::make_unique<DeviceModel>();
      ASSERT_OK(stack->devices().Restore(*saved, factory));
      ++restores;
    }
  }

  std::printf("replayed %llu accesses with %llu restores (snapshot %llu bytes)\n",
              static_cast<unsigned long long>(replayed), static_cast<unsigned long long>(restores),
              static_cast<unsigned long long>(snapshot_bytes));
  for (const auto& [device, n] : reads) {
    std::printf("  %s: %llu reads, %llu mismatches\n", device.c_str(),
                static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(mismatches[device]));
  }
  EXPECT_GT(restores, 20u);
  EXPECT_GT(reads["serial"], 22000u);
  EXPECT_GT(reads["i8042"], 80u);
  EXPECT_GT(reads["rtc"], 70u);
  EXPECT_EQ(mismatches["serial"] + mismatches["i8042"] + mismatches["rtc"], 0u);
  EXPECT_EQ(world.resets, 1) << "the kernel's final 0xfe must request a reset";
  const std::string expected = trace::ReadRunfile("testing/traces/pc.console.log");
  ASSERT_EQ(expected.size(), 23384u);
  EXPECT_TRUE(world.console == expected) << "the console differs from pc.console.log";
}

}  // namespace
}  // namespace dbs
