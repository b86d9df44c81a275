#include "dbs_device/resources/resources.h"

#include <sstream>
#include <type_traits>

#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

using ::dbs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ValueTypesTest, ConstructFromRawValueAndCompare) {
  constexpr PioAddress com1{0x3f8};
  EXPECT_EQ(com1.raw_value(), 0x3f8);
  EXPECT_LT(PioAddress{0x2f8}, com1);
  EXPECT_EQ(IoAddress{0x1000}, IoAddress{0x1000});
  EXPECT_NE(IoSize{1}, IoSize{2});
  static_assert(std::is_same_v<decltype(IoAddress{}.raw_value()), uint64_t>);
  static_assert(std::is_same_v<decltype(PioSize{}.raw_value()), uint16_t>);
  // Different kinds of value do not mix.
  static_assert(!std::is_convertible_v<IoSize, IoAddress>);
  static_assert(!std::is_convertible_v<IoAddress, PioAddress>);
}

TEST(ValueTypesTest, PioWidensToIo) {
  IoAddress wide = PioAddress{0xffff};
  EXPECT_EQ(wide.raw_value(), 0xffffu);
  IoSize wide_size = PioSize{8};
  EXPECT_EQ(wide_size.raw_value(), 8u);
}

TEST(ValueTypesTest, NarrowingInRangeSucceeds) {
  auto port = PioAddress::FromIoAddress(IoAddress{0xffff});
  ASSERT_TRUE(port.ok());
  EXPECT_EQ(port->raw_value(), 0xffff);
  auto size = PioSize::FromIoSize(IoSize{0x10});
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(size->raw_value(), 0x10);
}

TEST(ValueTypesTest, NarrowingOutOfRangeIsAnErrorNotATruncation) {
  EXPECT_THAT(PioAddress::FromIoAddress(IoAddress{0x10000}),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("0x10000")));
  EXPECT_THAT(PioAddress::FromIoAddress(IoAddress{0x103f8}),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(PioSize::FromIoSize(IoSize{~uint64_t{0}}), StatusIs(absl::StatusCode::kOutOfRange));
}

TEST(ValueTypesTest, PrintsInHex) {
  std::ostringstream os;
  os << PioAddress{0x3f8} << " " << IoSize{0x1000};
  EXPECT_EQ(os.str(), "0x3f8 0x1000");
}

DeviceResources MixedResources() {
  DeviceResources r;
  r.Append(PioRange{0x3f8, 8});
  r.Append(MmioRange{0xd0000000, 0x1000});
  r.Append(LegacyIrq{4});
  r.Append(MsiIrq{MsiIrqType::kPciMsi, 32, 4});
  r.Append(PioRange{0x2f8, 8});
  r.Append(MemRange{0x100000, 0x200000});
  r.Append(MsiIrq{MsiIrqType::kPciMsix, 64, 3});
  r.Append(KvmMemSlot{5});
  r.Append(MmioRange{0xd0001000, 0x2000});
  r.Append(MsiIrq{MsiIrqType::kGenericMsi, 100, 1});
  r.Append(LegacyIrq{5});
  r.Append(MacAddress{{0x52, 0x54, 0, 0x12, 0x34, 0x56}});
  r.Append(KvmMemSlot{6});
  return r;
}

TEST(DeviceResourcesTest, PioRangesInOrder) {
  EXPECT_THAT(MixedResources().PioRanges(), ElementsAre(PioRange{0x3f8, 8}, PioRange{0x2f8, 8}));
}

TEST(DeviceResourcesTest, MmioRangesInOrder) {
  EXPECT_THAT(MixedResources().MmioRanges(),
              ElementsAre(MmioRange{0xd0000000, 0x1000}, MmioRange{0xd0001000, 0x2000}));
}

TEST(DeviceResourcesTest, MemRanges) {
  EXPECT_THAT(MixedResources().MemRanges(), ElementsAre(MemRange{0x100000, 0x200000}));
}

TEST(DeviceResourcesTest, LegacyIrqIsTheFirst) {
  EXPECT_EQ(MixedResources().LegacyIrq(), 4u);
  EXPECT_EQ(DeviceResources{}.LegacyIrq(), std::nullopt);
}

TEST(DeviceResourcesTest, MsiGettersSelectByType) {
  DeviceResources r = MixedResources();
  EXPECT_EQ(r.PciMsiIrqs(), (MsiIrq{MsiIrqType::kPciMsi, 32, 4}));
  EXPECT_EQ(r.PciMsixIrqs(), (MsiIrq{MsiIrqType::kPciMsix, 64, 3}));
  EXPECT_EQ(r.GenericMsiIrqs(), (MsiIrq{MsiIrqType::kGenericMsi, 100, 1}));
  DeviceResources only_msix{MsiIrq{MsiIrqType::kPciMsix, 1, 1}};
  EXPECT_EQ(only_msix.PciMsiIrqs(), std::nullopt);
  EXPECT_EQ(only_msix.GenericMsiIrqs(), std::nullopt);
}

TEST(DeviceResourcesTest, KvmMemSlotsInOrder) {
  EXPECT_THAT(MixedResources().KvmMemSlots(), ElementsAre(5u, 6u));
}

TEST(DeviceResourcesTest, MacAddress) {
  auto mac = MixedResources().GetMacAddress();
  ASSERT_TRUE(mac.has_value());
  EXPECT_EQ(mac->bytes[0], 0x52);
  EXPECT_EQ(mac->bytes[5], 0x56);
  EXPECT_EQ(DeviceResources{}.GetMacAddress(), std::nullopt);
}

TEST(DeviceResourcesTest, IteratesAndConvertsToSpan) {
  DeviceResources r = MixedResources();
  absl::Span<const Resource> span = r;
  ASSERT_EQ(span.size(), 13u);
  EXPECT_EQ(r.size(), 13u);
  size_t n = 0;
  for (const Resource& resource : r) {
    EXPECT_EQ(resource, span[n]);
    ++n;
  }
  EXPECT_EQ(n, 13u);
  EXPECT_TRUE(std::holds_alternative<PioRange>(span[0]));
}

TEST(DeviceResourcesTest, EmptyHasNothing) {
  DeviceResources r;
  EXPECT_TRUE(r.empty());
  EXPECT_TRUE(r.PioRanges().empty());
  EXPECT_TRUE(r.MmioRanges().empty());
  EXPECT_TRUE(r.MemRanges().empty());
  EXPECT_TRUE(r.KvmMemSlots().empty());
  EXPECT_EQ(r.PciMsiIrqs(), std::nullopt);
}

TEST(DeviceResourcesTest, PrintsEveryKind) {
  std::ostringstream os;
  os << MixedResources();
  EXPECT_THAT(os.str(), HasSubstr("PIO 0x3f8+0x8"));
  EXPECT_THAT(os.str(), HasSubstr("MMIO 0xd0000000+0x1000"));
  EXPECT_THAT(os.str(), HasSubstr("IRQ 4"));
  EXPECT_THAT(os.str(), HasSubstr("PCI MSI vectors 32+4"));
  EXPECT_THAT(os.str(), HasSubstr("MAC 52:54:00:12:34:56"));
  EXPECT_THAT(os.str(), HasSubstr("KVM slot 5"));
}

TEST(ResourceConstraintTest, PioDefaults) {
  PioConstraint c{8};
  EXPECT_EQ(c.size, PioSize{8});
  EXPECT_EQ(c.align, PioSize{1});
  EXPECT_FALSE(c.range.has_value());
}

TEST(ResourceConstraintTest, MmioDefaults) {
  MmioConstraint c{0x100};
  EXPECT_EQ(c.size, IoSize{0x100});
  EXPECT_EQ(c.align, IoSize{0x1000});
  EXPECT_FALSE(c.range.has_value());
}

TEST(ResourceConstraintTest, MemDefaults) {
  MemConstraint c{0x2000};
  EXPECT_EQ(c.align, IoSize{0x1000});
  EXPECT_FALSE(c.range.has_value());
}

TEST(ResourceConstraintTest, IrqAndSlotDefaults) {
  EXPECT_FALSE(LegacyIrqConstraint{}.irq.has_value());
  EXPECT_FALSE(LegacyIrqConstraint{}.shared);
  EXPECT_EQ(PciMsiIrqConstraint{}.count, 0u);
  EXPECT_EQ(PciMsixIrqConstraint{}.count, 0u);
  EXPECT_EQ(GenericIrqConstraint{}.count, 0u);
  EXPECT_EQ(KvmMemSlotConstraint{}.count, 1u);
  EXPECT_FALSE(KvmMemSlotConstraint{}.first.has_value());
}

TEST(ResourceConstraintTest, RangeIsAnInclusiveWindow) {
  PioConstraint c{8, 8, AddressWindow<PioAddress>{0x3f8, 0x3ff}};
  ASSERT_TRUE(c.range.has_value());
  EXPECT_EQ(c.range->min, PioAddress{0x3f8});
  EXPECT_EQ(c.range->max, PioAddress{0x3ff});
  EXPECT_EQ(ToString(ResourceConstraint{c}), "PIO size 0x8 align 0x8 in [0x3f8, 0x3ff]");
}

}  // namespace
}  // namespace dbs
