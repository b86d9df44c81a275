// Compiles against dbs_device's public headers from another workspace and runs the flow.
#include <memory>

#include "devices/serial16550.h"
#include "gtest/gtest.h"
#include "manager/device_manager.h"
#include "manager/managed_device.h"
#include "resources/resources.h"

namespace {

TEST(ConsumerTest, UsesTheResourceTypes) {
  dbs::DeviceResources resources;
  resources.Append(dbs::PioRange{0x3f8, 8});
  resources.Append(dbs::LegacyIrq{4});
  ASSERT_EQ(resources.PioRanges().size(), 1u);
  EXPECT_EQ(resources.PioRanges()[0].base, dbs::PioAddress{0x3f8});
  EXPECT_EQ(resources.LegacyIrq(), 4u);
  EXPECT_FALSE(dbs::PioAddress::FromIoAddress(dbs::IoAddress{0x10000}).ok());
}

TEST(ConsumerTest, PlacesAUartAndDispatchesToIt) {
  dbs::ResourceManager resources = dbs::ResourceManager::X86Defaults();
  dbs::IoManager io;
  dbs::DeviceManager devices(resources, io);
  std::string out;
  auto uart = std::make_shared<dbs::ManagedDevice<dbs::Serial16550>>(
      "ttyS0", dbs::Serial16550::Constraints(), [&](uint8_t b) { out.push_back(b); });
  absl::StatusOr<dbs::DeviceId> id = devices.AddDevice(uart);
  ASSERT_TRUE(id.ok()) << id.status();
  const uint8_t byte = 'k';
  EXPECT_TRUE(io.PioWrite(0x3f8, absl::MakeConstSpan(&byte, 1)).ok());
  EXPECT_EQ(out, "k");
  EXPECT_TRUE(devices.RemoveDevice(*id).ok());
}

}  // namespace
