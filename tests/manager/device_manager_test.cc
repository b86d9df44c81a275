#include "dbs_device/manager/device_manager.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <new>
#include <optional>
#include <thread>
#include <vector>

#include "dbs_device/manager/managed_device.h"
#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

using ::dbs::testing::IsOk;
using ::dbs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A device that asks for what it is told to and counts its calls.
class FakeDevice : public Device {
 public:
  explicit FakeDevice(std::vector<ResourceConstraint> constraints)
      : constraints_(std::move(constraints)) {}

  std::string name() const override { return "fake"; }
  std::vector<ResourceConstraint> GetResourceConstraints() const override { return constraints_; }

  void PioRead(PioAddress base, PioAddress offset, absl::Span<uint8_t> data) override {
    last_base_ = base.raw_value();
    calls_.fetch_add(1);
    if (on_access) on_access();
    for (uint8_t& b : data) b = 0x5a;
  }
  void Read(IoAddress base, IoAddress offset, absl::Span<uint8_t> data) override {
    last_base_ = base.raw_value();
    calls_.fetch_add(1);
    for (uint8_t& b : data) b = 0xa5;
  }

  std::function<void()> on_access;
  uint64_t calls() const { return calls_.load(); }
  uint64_t last_base() const { return last_base_.load(); }

 private:
  std::vector<ResourceConstraint> constraints_;
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> last_base_{0};
};

// A device that keeps its resources itself and reports none (does not call the base).
class SilentDevice : public FakeDevice {
 public:
  using FakeDevice::FakeDevice;
  void SetResources(const DeviceResources& resources) override { mine_ = resources; }
  DeviceResources GetAssignedResources() const override { return {}; }
  DeviceResources mine_;
};

ResourceManagerConfig SmallPools() {
  ResourceManagerConfig config;
  config.pio = {0x0, 0xffff};
  config.mmio = {{0xd0000000, 0xd000ffff}};
  config.legacy_irq = {1, 15};
  config.msi = {32, 63};
  config.kvm_mem_slots = {0, 7};
  return config;
}

std::vector<ResourceConstraint> ComPort() {
  return {PioConstraint{8, 8, AddressWindow<PioAddress>{0x3f8, 0x3ff}}, LegacyIrqConstraint{4}};
}

class DeviceManagerTest : public ::testing::Test {
 protected:
  ResourceManager resources_{SmallPools()};
  IoManager io_;
  DeviceManager devices_{resources_, io_};
};

TEST_F(DeviceManagerTest, AddDeviceAllocatesConfiguresAndRegisters) {
  auto uart = std::make_shared<FakeDevice>(ComPort());
  ASSERT_OK_AND_ASSIGN(DeviceId id, devices_.AddDevice(uart));
  EXPECT_THAT(uart->GetAssignedResources().PioRanges(), ElementsAre(PioRange{0x3f8, 8}));
  EXPECT_EQ(uart->GetAssignedResources().LegacyIrq(), 4u);
  uint8_t byte = 0;
  ASSERT_OK(io_.PioRead(0x3fd, absl::MakeSpan(&byte, 1)));
  EXPECT_EQ(byte, 0x5a);
  EXPECT_EQ(uart->last_base(), 0x3f8u);
  EXPECT_EQ(devices_.GetDevice(id), uart);
  EXPECT_THAT(devices_.DeviceIds(), ElementsAre(id));
}

// --- Moving a placed device's range ------------------------------------------------------

std::vector<ResourceConstraint> Window() {
  return {MmioConstraint{0x1000, 0x1000, AddressWindow<IoAddress>{0xd0000000, 0xd0000fff}}};
}

TEST_F(DeviceManagerTest, MoveDeviceIoMovesTheBusTheReservationTheRecordAndTheDevice) {
  auto dev = std::make_shared<FakeDevice>(Window());
  ASSERT_OK_AND_ASSIGN(DeviceId id, devices_.AddDevice(dev));
  ASSERT_OK(devices_.MoveDeviceIo(id, MmioRange{0xd0000000, 0x1000}, 0xd0008000));
  // The bus.
  EXPECT_EQ(io_.FindDevice(AddressSpace::kMmio, 0xd0000000), nullptr);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kMmio, 0xd0008004), dev);
  // What the manager and the device say.
  ASSERT_OK_AND_ASSIGN(DeviceResources now, devices_.GetResources(id));
  EXPECT_THAT(now.MmioRanges(), ElementsAre(MmioRange{0xd0008000, 0x1000}));
  EXPECT_THAT(dev->GetAssignedResources().MmioRanges(), ElementsAre(MmioRange{0xd0008000, 0x1000}));
  // The allocator: the old place is free again, the new one is taken.
  EXPECT_OK(resources_.ReserveResources({MmioRange{0xd0000000, 0x1000}}));
  EXPECT_THAT(resources_.ReserveResources({MmioRange{0xd0008000, 0x1000}}), Not(IsOk()));
  // And it can still be removed: its ranges are where the manager says.
  ASSERT_OK(devices_.RemoveDevice(id));
  EXPECT_EQ(io_.range_count(), 0u);
  EXPECT_OK(resources_.ReserveResources({MmioRange{0xd0008000, 0x1000}}));
}

TEST_F(DeviceManagerTest, MoveDeviceIoOntoATakenPlaceChangesNothingAndNamesTheHolder) {
  auto a = std::make_shared<FakeDevice>(Window());
  ASSERT_OK_AND_ASSIGN(DeviceId id, devices_.AddDevice(a));
  auto b = std::make_shared<FakeDevice>(std::vector<ResourceConstraint>{
      MmioConstraint{0x1000, 0x1000, AddressWindow<IoAddress>{0xd0004000, 0xd0004fff}}});
  ASSERT_OK_AND_ASSIGN(DeviceId other, devices_.AddDevice(b));
  const uint64_t generation = io_.generation();
  const absl::Status refused = devices_.MoveDeviceIo(id, MmioRange{0xd0000000, 0x1000}, 0xd0004000);
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr(absl::StrCat("held by device ", other, " (fake)")));
  EXPECT_EQ(io_.generation(), generation);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kMmio, 0xd0000000), a);
  EXPECT_THAT(devices_.GetResources(id)->MmioRanges(), ElementsAre(MmioRange{0xd0000000, 0x1000}));
  EXPECT_OK(devices_.RemoveDevice(id));
  EXPECT_OK(devices_.RemoveDevice(other));
}

TEST_F(DeviceManagerTest, MoveDeviceIoOfWhatTheDeviceDoesNotHaveIsNotFound) {
  auto dev = std::make_shared<FakeDevice>(Window());
  ASSERT_OK_AND_ASSIGN(DeviceId id, devices_.AddDevice(dev));
  EXPECT_THAT(devices_.MoveDeviceIo(id + 1, MmioRange{0xd0000000, 0x1000}, 0xd0008000),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no device with id")));
  EXPECT_THAT(devices_.MoveDeviceIo(id, MmioRange{0xd0000000, 0x800}, 0xd0008000),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no range registered exactly")));
  EXPECT_THAT(devices_.MoveDeviceIo(id, LegacyIrq{4}, 5),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(devices_.MoveDeviceIo(id, MmioRange{0xd0000000, 0x1000}, ~uint64_t{0}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(io_.FindDevice(AddressSpace::kMmio, 0xd0000000), dev);
}

TEST_F(DeviceManagerTest, RemovingADeviceWhoseRangeMovedBehindTheManagerIsNotNotFound) {
  auto dev = std::make_shared<FakeDevice>(Window());
  ASSERT_OK_AND_ASSIGN(DeviceId id, devices_.AddDevice(dev));
  ASSERT_OK(io_.MoveDeviceIo(MmioRange{0xd0000000, 0x1000}, 0xd0008000));
  EXPECT_THAT(devices_.RemoveDevice(id),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("MoveDeviceIo")));
  EXPECT_EQ(devices_.GetDevice(id), dev);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kMmio, 0xd0008000), dev);
}

TEST_F(DeviceManagerTest, AnExactRequestForAHeldPortNamesItsHolder) {
  auto first = std::make_shared<FakeDevice>(ComPort());
  ASSERT_OK_AND_ASSIGN(DeviceId id, devices_.AddDevice(first));
  auto second = std::make_shared<FakeDevice>(ComPort());
  EXPECT_THAT(devices_.AddDevice(second),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr(absl::StrCat("held by device ", id, " (fake)"))));
  EXPECT_EQ(devices_.device_count(), 1u);
}

TEST_F(DeviceManagerTest, AllocationFailureHalfWayKeepsNothing) {
  auto dev = std::make_shared<FakeDevice>(std::vector<ResourceConstraint>{
      PioConstraint{8}, MmioConstraint{0x1000}, LegacyIrqConstraint{2}, MmioConstraint{0x100000}});
  EXPECT_THAT(devices_.AddDevice(dev),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("fake")));
  EXPECT_EQ(devices_.device_count(), 0u);
  EXPECT_EQ(io_.range_count(), 0u);
  // Everything the first three constraints took is free again.
  EXPECT_OK(resources_
                .AllocateDeviceResources({PioConstraint{8, 1, AddressWindow<PioAddress>{0, 7}},
                                          MmioConstraint{0x10000}, LegacyIrqConstraint{2}})
                .status());
}

TEST_F(DeviceManagerTest, RegistrationFailureGivesTheResourcesBack) {
  // Someone registered a range at COM1 behind the resource manager's back.
  ASSERT_OK(io_.RegisterDeviceIo(std::make_shared<FakeDevice>(ComPort()), {PioRange{0x3f8, 1}}));
  auto uart = std::make_shared<FakeDevice>(ComPort());
  EXPECT_THAT(devices_.AddDevice(uart),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0x3f8")));
  EXPECT_EQ(devices_.device_count(), 0u);
  // The port range and IRQ 4 were freed again.
  EXPECT_OK(resources_.AllocateDeviceResources(ComPort()).status());
}

// A device whose SetResources or GetTrappedIoResources throws (std::bad_alloc from copying
// a vector is enough): the exception reaches the caller and the pools are as before.
class ThrowingDevice : public FakeDevice {
 public:
  enum class Hook { kSetResources, kGetTrappedIoResources };
  ThrowingDevice(std::vector<ResourceConstraint> constraints, Hook hook)
      : FakeDevice(std::move(constraints)), hook_(hook) {}
  void SetResources(const DeviceResources& resources) override {
    if (hook_ == Hook::kSetResources) throw std::bad_alloc();
    FakeDevice::SetResources(resources);
  }
  DeviceResources GetTrappedIoResources() const override {
    if (hook_ == Hook::kGetTrappedIoResources) throw std::bad_alloc();
    return FakeDevice::GetTrappedIoResources();
  }

 private:
  Hook hook_;
};

class DeviceHookExceptionTest : public DeviceManagerTest,
                                public ::testing::WithParamInterface<ThrowingDevice::Hook> {};

TEST_P(DeviceHookExceptionTest, AThrowingHookLeaksNoResource) {
  auto device = std::make_shared<ThrowingDevice>(ComPort(), GetParam());
  EXPECT_THROW((void)devices_.AddDevice(device), std::bad_alloc);
  EXPECT_EQ(devices_.device_count(), 0u);
  EXPECT_EQ(io_.range_count(), 0u);
  EXPECT_EQ(io_.device_count(), 0u);
  // COM1's fixed ports and IRQ 4 are free: a second device gets exactly them.
  auto uart = std::make_shared<FakeDevice>(ComPort());
  ASSERT_OK_AND_ASSIGN(DeviceId id, devices_.AddDevice(uart));
  ASSERT_OK_AND_ASSIGN(DeviceResources got, devices_.GetResources(id));
  ASSERT_EQ(got.PioRanges().size(), 1u);
  EXPECT_EQ(got.PioRanges()[0].base.raw_value(), 0x3f8);
  EXPECT_EQ(got.LegacyIrq(), std::optional<uint32_t>(4));
}

INSTANTIATE_TEST_SUITE_P(EachHook, DeviceHookExceptionTest,
                         ::testing::Values(ThrowingDevice::Hook::kSetResources,
                                           ThrowingDevice::Hook::kGetTrappedIoResources));

TEST_F(DeviceManagerTest, RemoveDeviceUnregistersAndFrees) {
  auto uart = std::make_shared<FakeDevice>(ComPort());
  ASSERT_OK_AND_ASSIGN(DeviceId id, devices_.AddDevice(uart));
  ASSERT_OK(devices_.RemoveDevice(id));
  uint8_t byte = 0;
  EXPECT_THAT(io_.PioRead(0x3f8, absl::MakeSpan(&byte, 1)), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(devices_.GetDevice(id), nullptr);
  EXPECT_THAT(devices_.RemoveDevice(id), StatusIs(absl::StatusCode::kNotFound));
  // The same resources can be placed again.
  ASSERT_OK(devices_.AddDevice(std::make_shared<FakeDevice>(ComPort())).status());
}

TEST_F(DeviceManagerTest, RemovedDeviceIsNeverCalledAgain) {
  auto dev = std::make_shared<FakeDevice>(std::vector<ResourceConstraint>{MmioConstraint{0x1000}});
  ASSERT_OK_AND_ASSIGN(DeviceId id, devices_.AddDevice(dev));
  const uint64_t base = dev->GetAssignedResources().MmioRanges()[0].base.raw_value();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ok_dispatches{0};
  std::thread vcpu([&] {
    uint8_t byte = 0;
    while (!stop) {
      if (io_.MmioRead(base + 8, absl::MakeSpan(&byte, 1)).ok()) ok_dispatches.fetch_add(1);
    }
  });
  while (ok_dispatches.load() < 1000) std::this_thread::yield();
  ASSERT_OK(devices_.RemoveDevice(id));
  const uint64_t calls_at_return = dev->calls();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  stop = true;
  vcpu.join();
  EXPECT_EQ(dev->calls(), calls_at_return);
  EXPECT_EQ(dev->calls(), ok_dispatches.load());
}

TEST_F(DeviceManagerTest, RemoveDeviceInsideADispatchIsFailedPrecondition) {
  auto dev = std::make_shared<FakeDevice>(ComPort());
  ASSERT_OK_AND_ASSIGN(DeviceId id, devices_.AddDevice(dev));
  absl::Status inside;
  dev->on_access = [&] { inside = devices_.RemoveDevice(id); };
  uint8_t byte = 0;
  ASSERT_OK(io_.PioRead(0x3f8, absl::MakeSpan(&byte, 1)));
  EXPECT_THAT(inside, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(devices_.GetDevice(id), dev);  // nothing was removed
  dev->on_access = nullptr;
  EXPECT_OK(devices_.RemoveDevice(id));
}

TEST_F(DeviceManagerTest, AddDeviceFromInsideAHandler) {
  auto hotplug = std::make_shared<FakeDevice>(ComPort());
  auto added = std::make_shared<FakeDevice>(std::vector<ResourceConstraint>{PioConstraint{4}});
  absl::StatusOr<DeviceId> inside = absl::UnknownError("not called");
  hotplug->on_access = [&] {
    if (!inside.ok()) inside = devices_.AddDevice(added);
  };
  ASSERT_OK(devices_.AddDevice(hotplug).status());
  uint8_t byte = 0;
  ASSERT_OK(io_.PioRead(0x3f8, absl::MakeSpan(&byte, 1)));
  ASSERT_OK(inside.status());
  EXPECT_EQ(devices_.device_count(), 2u);
  const uint16_t port = added->GetAssignedResources().PioRanges()[0].base.raw_value();
  ASSERT_OK(io_.PioRead(port, absl::MakeSpan(&byte, 1)));
  EXPECT_EQ(added->calls(), 1u);
}

TEST_F(DeviceManagerTest, DeviceThatReportsNoResourcesIsTrappedAtItsAllocation) {
  auto dev = std::make_shared<SilentDevice>(ComPort());
  ASSERT_OK(devices_.AddDevice(dev).status());
  uint8_t byte = 0;
  ASSERT_OK(io_.PioRead(0x3f8, absl::MakeSpan(&byte, 1)));
  EXPECT_EQ(dev->calls(), 1u);
}

TEST_F(DeviceManagerTest, NullDeviceIsInvalidArgument) {
  EXPECT_THAT(devices_.AddDevice(nullptr), StatusIs(absl::StatusCode::kInvalidArgument));
}

// A handler registers another range for its own device while another thread removes that
// device: RemoveDevice unregisters what DeviceManager registered and waits for the handler;
// the handler's registration, made through the IoManager directly, stands and keeps the
// device reachable there (and alive) until it is unregistered too.
TEST_F(DeviceManagerTest, RegistrationInsideAHandlerWhileTheDeviceIsRemoved) {
  auto dev = std::make_shared<FakeDevice>(ComPort());
  ASSERT_OK_AND_ASSIGN(DeviceId id, devices_.AddDevice(dev));
  std::atomic<bool> inside{false}, handler_done{false}, remove_returned_first{false};
  absl::Status registered = absl::UnknownError("not called");
  dev->on_access = [&] {
    if (inside.exchange(true)) return;                           // only the first call
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // RemoveDevice is waiting
    registered = io_.RegisterDeviceIo(dev, {PioRange{0x2e8, 8}});
    handler_done = true;
  };
  std::thread vcpu([&] {
    uint8_t byte = 0;
    EXPECT_OK(io_.PioRead(0x3f8, absl::MakeSpan(&byte, 1)));
  });
  while (!inside) std::this_thread::yield();
  ASSERT_OK(devices_.RemoveDevice(id));
  remove_returned_first = !handler_done.load();
  vcpu.join();
  EXPECT_FALSE(remove_returned_first) << "RemoveDevice returned while the handler still ran";
  EXPECT_OK(registered);
  uint8_t byte = 0;
  EXPECT_THAT(io_.PioRead(0x3f8, absl::MakeSpan(&byte, 1)), StatusIs(absl::StatusCode::kNotFound));
  const uint64_t calls = dev->calls();
  ASSERT_OK(io_.PioRead(0x2e8, absl::MakeSpan(&byte, 1)));
  EXPECT_EQ(dev->calls(), calls + 1);
  EXPECT_EQ(io_.device_count(), 1u);
  // COM1's ports and IRQ went back to the pool.
  EXPECT_OK(resources_.AllocateDeviceResources(ComPort()).status());
  std::weak_ptr<FakeDevice> weak = dev;
  dev->on_access = nullptr;
  dev.reset();
  ASSERT_OK(io_.UnregisterDeviceIo({PioRange{0x2e8, 8}}));
  ASSERT_OK(io_.Synchronize());
  EXPECT_TRUE(weak.expired());
}

// A DeviceIoMut that traps only the first port of the block it is given.
class FirstPortOnly : public DeviceIoMut {
 public:
  DeviceResources GetTrappedIoResources() const override { return {PioRange{0x3f8, 1}}; }
  void PioRead(PioAddress, PioAddress, absl::Span<uint8_t> data) override {
    for (uint8_t& b : data) b = 0x11;
  }
};

TEST_F(DeviceManagerTest, ManagedDeviceRegistersWhatItsDeviceTraps) {
  auto dev = std::make_shared<ManagedDevice<FirstPortOnly>>("first-port", ComPort());
  ASSERT_OK(devices_.AddDevice(dev).status());
  EXPECT_EQ(io_.range_count(), 1u);
  uint8_t byte = 0;
  ASSERT_OK(io_.PioRead(0x3f8, absl::MakeSpan(&byte, 1)));
  EXPECT_EQ(byte, 0x11);
  // The rest of the allocated block reaches no device.
  EXPECT_THAT(io_.PioRead(0x3f9, absl::MakeSpan(&byte, 1)), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(dev->GetAssignedResources().PioRanges(), ElementsAre(PioRange{0x3f8, 8}));
}

TEST_F(DeviceManagerTest, ManagedDeviceWhoseDeviceTrapsNothingTrapsItsAllocation) {
  auto dev = std::make_shared<ManagedDevice<DeviceIoMut>>("plain", ComPort());
  ASSERT_OK(devices_.AddDevice(dev).status());
  EXPECT_THAT(dev->GetTrappedIoResources().PioRanges(), ElementsAre(PioRange{0x3f8, 8}));
  uint8_t byte = 0;
  EXPECT_OK(io_.PioRead(0x3ff, absl::MakeSpan(&byte, 1)));
}

TEST(DeviceManagerStressTest, HotplugWhileDispatching) {
  ResourceManager resources(SmallPools());
  IoManager io;
  DeviceManager devices(&resources, &io);
  auto stable = std::make_shared<FakeDevice>(ComPort());
  ASSERT_OK(devices.AddDevice(stable).status());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> misses{0}, dispatches{0};
  std::vector<std::thread> vcpus;
  for (int t = 0; t < 2; ++t) {
    vcpus.emplace_back([&] {
      uint8_t byte = 0;
      while (!stop) {
        if (!io.PioRead(0x3f8, absl::MakeSpan(&byte, 1)).ok()) misses.fetch_add(1);
        (void)io.MmioRead(0xd0000000, absl::MakeSpan(&byte, 1));
        dispatches.fetch_add(1);
      }
    });
  }
  // The vCPUs run before the hotplug starts: on a loaded machine the 200 changes could
  // otherwise all finish before a vCPU thread is scheduled.
  while (dispatches.load() == 0) std::this_thread::yield();
  std::vector<std::pair<std::shared_ptr<FakeDevice>, uint64_t>> removed;
  for (int i = 0; i < 200; ++i) {
    auto dev = std::make_shared<FakeDevice>(
        std::vector<ResourceConstraint>{MmioConstraint{0x1000}, GenericIrqConstraint{2}});
    ASSERT_OK_AND_ASSIGN(DeviceId id, devices.AddDevice(dev));
    ASSERT_OK(devices.RemoveDevice(id));
    removed.emplace_back(dev, dev->calls());
  }
  stop = true;
  for (auto& t : vcpus) t.join();
  EXPECT_GT(dispatches.load(), 0u);
  EXPECT_EQ(misses.load(), 0u);
  for (const auto& [dev, calls] : removed) EXPECT_EQ(dev->calls(), calls);
  EXPECT_EQ(devices.device_count(), 1u);
}

}  // namespace
}  // namespace dbs
