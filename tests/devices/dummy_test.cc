#include "dbs_device/devices/dummy.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

TEST(DummyDeviceTest, AnswersAllOnesByDefaultAndCounts) {
  DummyDevice dummy;
  std::vector<uint8_t> data(4, 0);
  dummy.PioRead(PioAddress{0x80}, PioAddress{0}, absl::MakeSpan(data));
  EXPECT_THAT(data, ::testing::Each(0xff));
  dummy.Write(IoAddress{0x1000}, IoAddress{8}, data);
  EXPECT_EQ(dummy.counts().pio_reads, 1u);
  EXPECT_EQ(dummy.counts().mmio_writes, 1u);
  EXPECT_EQ(dummy.counts().bytes, 8u);
  EXPECT_TRUE(dummy.accesses().empty()) << "not recording by default";
}

TEST(DummyDeviceTest, RecordsWithItsPattern) {
  DummyDevice dummy([](uint64_t offset) { return static_cast<uint8_t>(0x10 + offset); },
                    /*record=*/true);
  std::vector<uint8_t> data(2, 0);
  dummy.Read(IoAddress{0x1000}, IoAddress{4}, absl::MakeSpan(data));
  EXPECT_THAT(data, ::testing::ElementsAre(0x14, 0x15));
  ASSERT_EQ(dummy.accesses().size(), 1u);
  EXPECT_EQ(dummy.accesses()[0], (DummyAccess{DummyAccess::kMmioRead, 0x1000, 4, {0x14, 0x15}}));
  dummy.Clear();
  EXPECT_EQ(dummy.counts().total(), 0u);
}

}  // namespace
}  // namespace dbs
