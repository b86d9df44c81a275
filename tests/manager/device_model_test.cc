#include "dbs_device/manager/device_model.h"

#include <cstdint>
#include <memory>
#include <string>

#include "dbs_device/devices/i8042.h"
#include "dbs_device/devices/serial16550.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

// The ports a 16550 at COM1 and the i8042 take on a PC.
constexpr uint16_t kCom1 = 0x3f8;
constexpr uint16_t kI8042Data = 0x60;

TEST(MakeManagedTest, NamesTheDeviceByItsKindAndPlacesItByItsConstraints) {
  DeviceModel model;
  std::string output;
  auto uart =
      MakeManaged<Serial16550>([&output](uint8_t b) { output.push_back(char(b)); }, [](bool) {});
  EXPECT_EQ(uart->name(), Serial16550::kKind);
  ASSERT_OK_AND_ASSIGN(DeviceId id, model.devices().AddDevice(uart));
  const uint8_t byte = 'x';
  ASSERT_OK(model.io().PioWrite(kCom1, absl::MakeConstSpan(&byte, 1)));
  EXPECT_EQ(output, "x");
  EXPECT_EQ(model.devices().GetDevice(id), uart);
}

TEST(DeviceManagerTest, DestroyingTheManagerRemovesItsDevicesAndGivesTheirResourcesBack) {
  ResourceManager resources = ResourceManager::X86Defaults();
  IoManager io;
  std::weak_ptr<Device> placed;
  {
    DeviceManager devices(resources, io);
    auto keyboard = MakeManaged<I8042>([] {});
    placed = keyboard;
    ASSERT_OK(devices.AddDevice(std::move(keyboard)).status());
    EXPECT_EQ(io.device_count(), 1u);
  }
  EXPECT_EQ(io.range_count(), 0u);
  EXPECT_EQ(io.FindDevice(AddressSpace::kPio, kI8042Data), nullptr);
  ASSERT_OK(io.Synchronize());
  EXPECT_TRUE(placed.expired()) << "the device outlived its manager and a grace period";
  // Its exact ports are free again.
  EXPECT_OK(resources.AllocateDeviceResources(I8042::Constraints()).status());
}

TEST(DeviceModelTest, TearsDownTheDevicesBeforeTheBusAndThePools) {
  std::weak_ptr<Device> placed;
  {
    DeviceModel model;
    auto keyboard = MakeManaged<I8042>([] {});
    placed = keyboard;
    ASSERT_OK(model.devices().AddDevice(std::move(keyboard)).status());
    EXPECT_EQ(model.devices().device_count(), 1u);
    EXPECT_EQ(model.io().device_count(), 1u);
  }
  ASSERT_OK(RcuDomain::Default().Synchronize());
  EXPECT_TRUE(placed.expired());
}

}  // namespace
}  // namespace dbs
