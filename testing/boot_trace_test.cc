#include "dbs_device/testing/boot_trace.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs::trace {
namespace {

using ::testing::HasSubstr;

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(FlattenTest, SmallerRangeLiesOnTopAndSplitsTheLargerOne) {
  DeviceMap map = Flatten({{false, 0x1000, 0x1000, "big"},
                           {false, 0x1400, 0x100, "small"},
                           {true, 0x3f8, 8, "serial"}});
  ASSERT_EQ(map.ranges.size(), 4u);
  // Sorted: PIO first, then MMIO by base.
  EXPECT_EQ(map.ranges[0].name, "serial");
  EXPECT_EQ(map.ranges[1].name, "big");
  EXPECT_EQ(map.ranges[1].base, 0x1000u);
  EXPECT_EQ(map.ranges[1].size, 0x400u);
  EXPECT_EQ(map.ranges[2].name, "small");
  EXPECT_EQ(map.ranges[3].name, "big");
  EXPECT_EQ(map.ranges[3].base, 0x1500u);
  EXPECT_EQ(map.ranges[3].size, 0xb00u);
  ASSERT_EQ(map.notes.size(), 1u);
  EXPECT_THAT(map.notes[0], HasSubstr("small 0x1400+0x100 lies over big"));
}

TEST(FlattenTest, DisjointRangesAreKeptAsTheyAre) {
  DeviceMap map = Flatten({{true, 0x60, 1, "kbd"}, {true, 0x64, 1, "kbd-cmd"}});
  EXPECT_EQ(map.ranges.size(), 2u);
  EXPECT_TRUE(map.notes.empty());
}

TEST(LoadTraceTest, MalformedLineIsInvalidArgumentNamingTheLine) {
  const std::string path = WriteTemp("bad.trace", "W P 0x3f8 1 0x41\nR X 0x3fd 1 0x60\n");
  absl::StatusOr<std::vector<Access>> trace = LoadTrace(path);
  EXPECT_EQ(trace.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(trace.status().message()), HasSubstr(":2:"));
}

TEST(LoadTraceTest, ParsesAccesses) {
  const std::string path = WriteTemp("good.trace", "W P 0x3f8 1 0x41\nR M 0xfed000f0 4 0x1234\n");
  absl::StatusOr<std::vector<Access>> trace = LoadTrace(path);
  ASSERT_TRUE(trace.ok()) << trace.status();
  ASSERT_EQ(trace->size(), 2u);
  EXPECT_TRUE((*trace)[0].write && (*trace)[0].pio);
  EXPECT_EQ((*trace)[1].address, 0xfed000f0u);
  EXPECT_EQ((*trace)[1].size, 4);
  EXPECT_EQ((*trace)[1].value, 0x1234u);
  EXPECT_EQ((*trace)[1].line, 2u);
}

TEST(InferRtcClockTest, FindsTheRecordedBootsTime) {
  absl::StatusOr<std::vector<Access>> trace = LoadTrace(RunfilePath("testing/traces/pc.trace.gz"));
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_EQ(trace->size(), 166107u);
  std::optional<RecordedClock> clock = InferRtcClock(*trace);
  ASSERT_TRUE(clock.has_value());
  EXPECT_EQ(absl::ToCivilSecond(clock->start, absl::UTCTimeZone()),
            absl::CivilSecond(2026, 11, 24, 23, 23, 49));
  EXPECT_GT(clock->per_line, absl::ZeroDuration());
}

}  // namespace
}  // namespace dbs::trace
