// Compiles against dbs_device's public headers from another workspace, one that has its
// own resources/resources.h and builds with -Wall -Wextra -Werror, and runs the flow.
#include <memory>
#include <string>

#include "dbs_device/devices/serial16550.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/resources/allocator.h"
#include "dbs_device/resources/resources.h"
#include "gtest/gtest.h"
#include "resources/resources.h"

#ifndef CONSUMER_RESOURCES_HEADER_INCLUDED
#error "the consumer's own resources/resources.h was not the one included by its own name"
#endif

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

// A device written against DeviceIo's defaults: only PioRead is overridden.
class Counter : public dbs::Device {
 public:
  void PioRead(dbs::PioAddress, dbs::PioAddress offset, absl::Span<uint8_t> data) override {
    for (uint8_t& b : data) b = static_cast<uint8_t>(offset.raw_value());
  }
  std::vector<dbs::ResourceConstraint> GetResourceConstraints() const override {
    return {dbs::PioConstraint{4}};
  }
};

TEST(ConsumerTest, BothResourcesHeadersLiveSideBySide) {
  consumer::Resource mine{3};
  dbs::Resource theirs = dbs::PioRange{0x60, 1};
  EXPECT_EQ(mine.units, 3);
  EXPECT_TRUE(std::holds_alternative<dbs::PioRange>(theirs));
}

TEST(ConsumerTest, ACustomDeviceIsPlacedDispatchedAndRemoved) {
  dbs::ResourceManager resources = dbs::ResourceManager::X86Defaults();
  dbs::IoManager io;
  dbs::DeviceManager devices(resources, io);
  auto counter = std::make_shared<Counter>();
  absl::StatusOr<dbs::DeviceId> id = devices.AddDevice(counter);
  ASSERT_TRUE(id.ok()) << id.status();
  const uint16_t port = counter->GetAssignedResources().PioRanges()[0].base.raw_value();
  uint8_t byte = 0;
  ASSERT_TRUE(io.PioRead(port + 2, absl::MakeSpan(&byte, 1)).ok());
  EXPECT_EQ(byte, 2);
  EXPECT_TRUE(devices.RemoveDevice(*id).ok());
  EXPECT_EQ(io.PioRead(port, absl::MakeSpan(&byte, 1)).code(), absl::StatusCode::kNotFound);
}

// The snapshot path from another workspace: the generated protocol buffer code of our
// repository builds and links here, and a UART comes back with its pending byte.
TEST(ConsumerTest, SnapshotsAUartAndRestoresItElsewhere) {
  dbs::ResourceManager resources = dbs::ResourceManager::X86Defaults();
  dbs::IoManager io;
  dbs::DeviceManager devices(resources, io);
  auto uart = std::make_shared<dbs::ManagedDevice<dbs::Serial16550>>(
      "ttyS0", dbs::Serial16550::Constraints(), [](uint8_t) {});
  ASSERT_TRUE(devices.AddDevice(uart).ok());
  uart->WithLock([](dbs::Serial16550& d) { d.EnqueueInput(std::vector<uint8_t>{'s'}); });
  absl::StatusOr<std::string> saved = devices.Snapshot();
  ASSERT_TRUE(saved.ok()) << saved.status();

  dbs::ResourceManager resources2 = dbs::ResourceManager::X86Defaults();
  dbs::IoManager io2;
  dbs::DeviceManager devices2(resources2, io2);
  dbs::DeviceFactory factory;
  ASSERT_TRUE(
      factory
          .Register(dbs::Serial16550::kKind, dbs::RestoreManaged<dbs::Serial16550>([](uint8_t) {}))
          .ok());
  ASSERT_TRUE(devices2.Restore(*saved, factory).ok());
  uint8_t byte = 0;
  ASSERT_TRUE(io2.PioRead(0x3f8, absl::MakeSpan(&byte, 1)).ok());
  EXPECT_EQ(byte, 's');
}

TEST(ConsumerTest, TheEarlierRangeNameStillCompiles) {
  dbs::Range window{0x1000, 0x1fff};
  dbs::IntervalAllocator allocator(window);
  absl::StatusOr<dbs::InclusiveRange> got = allocator.Allocate(dbs::Constraint{0x100});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->min, 0x1000u);
}

// Built with -Wextra -Werror: naming only the leading fields of any public aggregate must not
// raise -Wmissing-field-initializers, as users write them that way.
TEST(ConsumerTest, PublicAggregatesTakeOnlyTheirLeadingFields) {
  const std::vector<dbs::ResourceConstraint> constraints = {
      dbs::PioConstraint{8},        dbs::MmioConstraint{0x1000},  dbs::MemConstraint{0x200000},
      dbs::LegacyIrqConstraint{4},  dbs::PciMsiIrqConstraint{4},  dbs::PciMsixIrqConstraint{2},
      dbs::GenericIrqConstraint{1}, dbs::KvmMemSlotConstraint{1},
  };
  const dbs::Resource range = dbs::MmioRange{0x1000};
  const dbs::AddressWindow<dbs::PioAddress> window{0x3f8};
  EXPECT_EQ(constraints.size(), 8u);
  EXPECT_EQ(std::get<dbs::MmioRange>(range).size.raw_value(), 0u);
  EXPECT_EQ(window.max.raw_value(), 0u);
}

}  // namespace
