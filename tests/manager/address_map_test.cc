// The address map's per-range rules and per-access facts: access rules (refused, split,
// widened), what a failed read leaves in the buffer, and the accessing vCPU.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dbs_device/device/access.h"
#include "dbs_device/device/device.h"
#include "dbs_device/manager/io_manager.h"
#include "dbs_device/testing/status_matchers.h"
#include "dbs_device/tests/manager/recording_device.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

using ::dbs::testing::Access;
using ::dbs::testing::RecordingDevice;
using ::dbs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A RecordingDevice whose ranges all have `rules`.
class RuledDevice : public RecordingDevice {
 public:
  explicit RuledDevice(AccessRules rules) : RecordingDevice(1), rules_(rules) {}
  RangeOptions GetRangeOptions(const Resource&) const override { return {.rules = rules_}; }

 private:
  AccessRules rules_;
};

constexpr uint64_t kBase = 0x10000;

// One case of the table: an access of `size` bytes at kBase + `offset` to a 16-byte MMIO
// range with `rules`, and the handler calls it must produce as (offset, size), or a refusal.
struct RulesCase {
  AccessRules rules;
  uint64_t offset;
  size_t size;
  std::vector<std::pair<uint64_t, size_t>> calls;  // empty: refused, kInvalidArgument
};

// QEMU's access_with_adjusted_size gives the same calls except where marked: it widens at
// the access's own offset (offset 1 -> a 4-byte call at 1), where we align down to stay
// inside the range (a 4-byte call at 0). Refusals are QEMU's memory_region_access_valid.
const RulesCase kRulesTable[] = {
    // Device takes 4-byte registers only: 1, 2 refused, 8 refused.
    {{.min_size = 4, .max_size = 4}, 0, 4, {{0, 4}}},
    {{.min_size = 4, .max_size = 4}, 0, 1, {}},
    {{.min_size = 4, .max_size = 4}, 0, 8, {}},
    // Accepts 1-8, implements 4: 8 is split, 1 and 2 are widened.
    {{.impl_min_size = 4, .impl_max_size = 4}, 0, 8, {{0, 4}, {4, 4}}},
    {{.impl_min_size = 4, .impl_max_size = 4}, 8, 2, {{8, 4}}},
    {{.impl_min_size = 4, .impl_max_size = 4}, 5, 1, {{4, 4}}},  // QEMU: (5, 4)
    // Implements 1 only: a 4-byte access is four 1-byte calls, ascending.
    {{.impl_min_size = 1, .impl_max_size = 1}, 4, 4, {{4, 1}, {5, 1}, {6, 1}, {7, 1}}},
    // Implements 2-4: 8 splits in two, 1 widens to 2.
    {{.impl_min_size = 2, .impl_max_size = 4}, 0, 8, {{0, 4}, {4, 4}}},
    {{.impl_min_size = 2, .impl_max_size = 4}, 3, 1, {{2, 2}}},  // QEMU: (3, 2)
    // Aligned accesses only.
    {{.unaligned = false}, 2, 2, {{2, 2}}},
    {{.unaligned = false}, 1, 2, {}},
    {{.unaligned = false}, 4, 8, {}},
    {{.unaligned = false, .impl_max_size = 2}, 4, 4, {{4, 2}, {6, 2}}},
    // Unaligned accepted and split as it comes.
    {{.impl_max_size = 2}, 1, 4, {{1, 2}, {3, 2}}},
    // Sizes that are no access size are refused on a range with rules.
    {{.max_size = 4}, 0, 3, {}},
};

TEST(AccessRulesTest, AccessesAreRefusedSplitOrWidenedAsTheTableSays) {
  for (const RulesCase& c : kRulesTable) {
    IoManager io;
    auto device = std::make_shared<RuledDevice>(c.rules);
    ASSERT_OK(io.RegisterDeviceIo(device, {MmioRange{kBase, 16}}));
    std::vector<uint8_t> buffer(c.size, 0xee);
    const absl::Status status = io.MmioRead(kBase + c.offset, absl::MakeSpan(buffer));
    std::vector<std::pair<uint64_t, size_t>> calls;
    for (const Access& a : device->accesses()) calls.push_back({a.offset, a.data.size()});
    SCOPED_TRACE(::testing::Message() << "offset " << c.offset << " size " << c.size);
    if (c.calls.empty()) {
      EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
      EXPECT_TRUE(calls.empty()) << "a refused access reached the device";
      EXPECT_EQ(buffer, std::vector<uint8_t>(c.size, 0xee));
      continue;
    }
    ASSERT_OK(status);
    EXPECT_EQ(calls, c.calls);
    // Whatever the pieces, the bytes read are the device's at the access's own offsets.
    for (size_t i = 0; i < c.size; ++i) EXPECT_EQ(buffer[i], device->Pattern(c.offset + i)) << i;
  }
}

TEST(AccessRulesTest, AWidenedWriteCarriesItsBytesAtTheirPlaceAndZerosElsewhere) {
  IoManager io;
  auto device = std::make_shared<RuledDevice>(AccessRules{.impl_min_size = 4});
  ASSERT_OK(io.RegisterDeviceIo(device, {PioRange{0xcf8, 4}}));
  const uint8_t byte = 0x0e;
  ASSERT_OK(io.PioWrite(0xcf9, absl::MakeConstSpan(&byte, 1)));
  EXPECT_THAT(device->accesses(),
              ElementsAre(Access{Access::kPioWrite, 0xcf8, 0, {0x00, 0x0e, 0x00, 0x00}}));
}

TEST(AccessRulesTest, RefusedAccessesAreInvalidArgumentNamingTheRuleAndCountedAgainstTheDevice) {
  IoManager io(IoManager::Options{.statistics = true});
  auto device = std::make_shared<RuledDevice>(AccessRules{.max_size = 4, .unaligned = false});
  ASSERT_OK(io.RegisterDeviceIo(device, {MmioRange{kBase, 16}}));
  uint64_t wide = 0;
  EXPECT_THAT(io.MmioRead(kBase, absl::MakeSpan(reinterpret_cast<uint8_t*>(&wide), 8)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("takes 1 to 4 bytes")));
  uint16_t half = 0;
  EXPECT_THAT(io.MmioWrite(kBase + 1, absl::MakeConstSpan(reinterpret_cast<uint8_t*>(&half), 2)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not aligned")));
  EXPECT_EQ(device->calls(), 0u);
  ASSERT_OK_AND_ASSIGN(DeviceStats stats, io.GetDeviceStats(device.get()));
  EXPECT_EQ(stats.errors[absl::StatusCode::kInvalidArgument], 2u);
  EXPECT_EQ(stats.reads + stats.writes, 0u);
}

TEST(AccessRulesTest, MalformedRulesAreRefusedAtRegistrationAndNothingIsRegistered) {
  IoManager io;
  for (const AccessRules& rules :
       {AccessRules{.max_size = 3}, AccessRules{.min_size = 4, .max_size = 2},
        AccessRules{.impl_min_size = 8, .impl_max_size = 4}, AccessRules{.impl_min_size = 0}}) {
    auto device = std::make_shared<RuledDevice>(rules);
    EXPECT_THAT(io.RegisterDeviceIo(device, {PioRange{0x60, 1}, MmioRange{kBase, 16}}),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("access rules")));
    EXPECT_EQ(io.range_count(), 0u);
    EXPECT_EQ(io.generation(), 0u);
  }
  // A range shorter than the size its handlers implement could not be widened inside it.
  auto device = std::make_shared<RuledDevice>(AccessRules{.impl_min_size = 4});
  EXPECT_THAT(io.RegisterDeviceIo(device, {PioRange{0x60, 2}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multiple of 4")));
  EXPECT_EQ(io.range_count(), 0u);
}

TEST(AccessRulesTest, ARangeWithTheDefaultRulesTakesEveryAccessUnchanged) {
  IoManager io;
  auto device = std::make_shared<RecordingDevice>(1);
  ASSERT_OK(io.RegisterDeviceIo(device, {MmioRange{kBase, 64}}));
  std::vector<uint8_t> odd(24);  // no access size, and wider than 8
  ASSERT_OK(io.MmioRead(kBase + 3, absl::MakeSpan(odd)));
  ASSERT_EQ(device->accesses().size(), 1u);
  EXPECT_EQ(device->accesses()[0].offset, 3u);
  EXPECT_EQ(device->accesses()[0].data.size(), 24u);
}

TEST(UnclaimedReadFillTest, AFailedReadLeavesTheBufferAsItWasByDefault) {
  IoManager io;
  ASSERT_OK(io.RegisterDeviceIo(std::make_shared<RecordingDevice>(1), {PioRange{0x60, 1}}));
  uint8_t bytes[2] = {0x12, 0x34};
  EXPECT_THAT(io.PioRead(0x70, absl::MakeSpan(bytes)), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(io.PioRead(0x60, absl::MakeSpan(bytes)), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_EQ(bytes[0], 0x12);
  EXPECT_EQ(bytes[1], 0x34);
}

TEST(UnclaimedReadFillTest, AFailedReadFillsTheBufferWhenAsked) {
  IoManager io(IoManager::Options{.unclaimed_read_fill = 0xff});
  auto device = std::make_shared<RuledDevice>(AccessRules{.max_size = 1});
  ASSERT_OK(io.RegisterDeviceIo(device, {PioRange{0x60, 4}}));
  uint8_t bytes[4] = {1, 2, 3, 4};
  EXPECT_THAT(io.PioRead(0x70, absl::MakeSpan(bytes)), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(bytes, ElementsAre(0xff, 0xff, 0xff, 0xff));
  uint8_t past[2] = {1, 2};
  EXPECT_THAT(io.PioRead(0x63, absl::MakeSpan(past)), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(past, ElementsAre(0xff, 0xff));
  uint8_t refused[2] = {1, 2};
  EXPECT_THAT(io.PioRead(0x60, absl::MakeSpan(refused)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(refused, ElementsAre(0xff, 0xff));
  // A write that fails writes nothing anywhere, and a read that succeeds is the device's.
  uint8_t one = 0;
  ASSERT_OK(io.PioRead(0x61, absl::MakeSpan(&one, 1)));
  EXPECT_EQ(one, device->Pattern(1));
}

// A device that records which vCPU each access came from.
class VcpuRecorder : public DeviceIo {
 public:
  void PioRead(PioAddress, PioAddress, absl::Span<uint8_t> data) override {
    seen.push_back(CurrentAccess().vcpu);
    if (inner != nullptr) (void)inner->PioRead(0x61, data);  // a dispatch without context
  }
  std::vector<uint32_t> seen;
  IoManager* inner = nullptr;
};

TEST(AccessContextTest, AHandlerSeesTheVcpuItsDispatchCarried) {
  IoManager io;
  auto device = std::make_shared<VcpuRecorder>();
  ASSERT_OK(io.RegisterDeviceIo(device, {PioRange{0x60, 2}}));
  uint8_t byte = 0;
  ASSERT_OK(io.PioRead(0x60, absl::MakeSpan(&byte, 1), AccessContext{.vcpu = 3}));
  ASSERT_OK(io.PioRead(0x60, absl::MakeSpan(&byte, 1)));  // no context: the default
  ASSERT_OK(io.PioRead(0x60, absl::MakeSpan(&byte, 1), AccessContext{.vcpu = 7}));
  EXPECT_THAT(device->seen, ElementsAre(3u, 0u, 7u));
  EXPECT_EQ(CurrentAccess().vcpu, 0u) << "the context outlived its dispatch";
}

TEST(AccessContextTest, ADispatchWithoutAContextInsideOneSeesTheEnclosingContext) {
  IoManager io;
  auto device = std::make_shared<VcpuRecorder>();
  device->inner = &io;
  ASSERT_OK(io.RegisterDeviceIo(device, {PioRange{0x60, 1}}));
  auto leaf = std::make_shared<VcpuRecorder>();
  ASSERT_OK(io.RegisterDeviceIo(leaf, {PioRange{0x61, 1}}));
  uint8_t byte = 0;
  ASSERT_OK(io.PioRead(0x60, absl::MakeSpan(&byte, 1), AccessContext{.vcpu = 5}));
  EXPECT_THAT(device->seen, ElementsAre(5u));
  EXPECT_THAT(leaf->seen, ElementsAre(5u));
}

// A RecordingDevice whose ranges all have `priority`.
class PrioritizedDevice : public RecordingDevice {
 public:
  PrioritizedDevice(uint8_t id, int32_t priority) : RecordingDevice(id), priority_(priority) {}
  RangeOptions GetRangeOptions(const Resource&) const override { return {.priority = priority_}; }

 private:
  int32_t priority_;
};

// A q35 machine's reset control register (1 byte at 0xcf9, priority 1) over the PCI
// configuration address register (4 bytes at 0xcf8).
class OverlayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(io_.RegisterDeviceIo(config_address_, {PioRange{0xcf8, 4}}));
    ASSERT_OK(io_.RegisterDeviceIo(reset_, {PioRange{0xcf9, 1}}));
  }
  IoManager io_;
  std::shared_ptr<RecordingDevice> config_address_ = std::make_shared<RecordingDevice>(1);
  std::shared_ptr<PrioritizedDevice> reset_ = std::make_shared<PrioritizedDevice>(2, 1);
};

TEST_F(OverlayTest, TheHighestPriorityHoldingTheFirstByteTakesTheWholeAccess) {
  uint32_t address = 0x80000000;
  ASSERT_OK(io_.PioWrite(0xcf8, absl::MakeConstSpan(reinterpret_cast<uint8_t*>(&address), 4)));
  ASSERT_EQ(config_address_->accesses().size(), 1u);
  EXPECT_EQ(config_address_->accesses()[0].data.size(), 4u);
  const uint8_t reset = 0x06;
  ASSERT_OK(io_.PioWrite(0xcf9, absl::MakeConstSpan(&reset, 1)));
  EXPECT_THAT(reset_->accesses(), ElementsAre(Access{Access::kPioWrite, 0xcf9, 0, {0x06}}));
  uint8_t byte = 0;
  ASSERT_OK(io_.PioRead(0xcfa, absl::MakeSpan(&byte, 1)));  // uncovered: below
  EXPECT_EQ(byte, config_address_->Pattern(2));
}

TEST_F(OverlayTest, AnAccessFromTheOverlaysFirstByteMustLieInsideIt) {
  uint16_t word = 0;
  EXPECT_THAT(io_.PioRead(0xcf9, absl::MakeSpan(reinterpret_cast<uint8_t*>(&word), 2)),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_EQ(reset_->calls(), 0u);
  EXPECT_EQ(config_address_->calls(), 0u);
}

TEST_F(OverlayTest, EqualPrioritiesNeverOverlap) {
  auto other = std::make_shared<PrioritizedDevice>(3, 1);
  EXPECT_THAT(io_.RegisterDeviceIo(other, {PioRange{0xcf9, 2}}),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0xcf9")));
  EXPECT_THAT(io_.RegisterDeviceIo(std::make_shared<RecordingDevice>(4), {PioRange{0xcfb, 1}}),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(io_.range_count(), 2u);
}

TEST_F(OverlayTest, RemovingOrMovingTheOverlayUncoversWhatLiesBelowInTheSameGeneration) {
  const uint64_t generation = io_.generation();
  ASSERT_OK(io_.MoveDeviceIo(PioRange{0xcf9, 1}, 0xcfa));
  EXPECT_EQ(io_.generation(), generation + 1);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0xcf9), config_address_);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0xcfa), reset_);
  ASSERT_OK(io_.UnregisterDeviceIo({PioRange{0xcfa, 1}}));
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0xcfa), config_address_);
  EXPECT_EQ(io_.range_count(), 1u);
}

TEST_F(OverlayTest, ALowerPriorityRangeIsCoveredByTheRangesAboveIt) {
  auto background = std::make_shared<PrioritizedDevice>(5, -1);
  ASSERT_OK(io_.RegisterDeviceIo(background, {PioRange{0xc00, 0x400}}));
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0xcf8), config_address_);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0xcf9), reset_);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0xcfc), background);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0xc00), background);
  EXPECT_THAT(io_.DescribeMap(), HasSubstr("[0x0cf9, 0x0cf9] unnamed priority 1"));
  EXPECT_THAT(io_.DescribeMap(), HasSubstr("[0x0c00, 0x0fff] unnamed priority -1"));
}

TEST(DescribeMapTest, ListsEveryRangeWithItsDeviceAndItsRules) {
  class Named : public Device {
   public:
    std::string name() const override { return "i8042"; }
  };
  IoManager io;
  ASSERT_OK(io.RegisterDeviceIo(std::make_shared<Named>(), {PioRange{0x64, 1}, PioRange{0x60, 1}}));
  ASSERT_OK(io.RegisterDeviceIo(
      std::make_shared<RuledDevice>(
          AccessRules{.max_size = 4, .unaligned = false, .impl_min_size = 4, .impl_max_size = 4}),
      {PioRange{0xcf8, 4}, MmioRange{0xfee00000, 0x1000}}));
  EXPECT_EQ(io.DescribeMap(),
            "PIO, 3 ranges\n"
            "  [0x0060, 0x0060] i8042\n"
            "  [0x0064, 0x0064] i8042\n"
            "  [0x0cf8, 0x0cfb] unnamed sizes 1-4, implements 4-4, aligned only\n"
            "MMIO, 1 ranges\n"
            "  [0x00000000fee00000, 0x00000000fee00fff] unnamed sizes 1-4, implements 4-4, "
            "aligned only\n");
}

}  // namespace
}  // namespace dbs
