// Compiles against dbs_device's public headers from another workspace.
#include "gtest/gtest.h"
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

}  // namespace
