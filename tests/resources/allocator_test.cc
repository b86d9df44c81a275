#include "dbs_device/resources/allocator.h"

#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "absl/types/span.h"
#include "dbs_device/testing/bitmap_allocator_model.h"
#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

using ::dbs::testing::BitmapModel;
using ::dbs::testing::IsOkAndHolds;
using ::dbs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

Constraint First(uint64_t size, uint64_t min = 0, uint64_t max = kMax, uint64_t align = 1) {
  return Constraint{size, min, max, align, AllocPolicy::kFirstMatch};
}
Constraint Last(uint64_t size, uint64_t min = 0, uint64_t max = kMax, uint64_t align = 1) {
  return Constraint{size, min, max, align, AllocPolicy::kLastMatch};
}
Constraint Exact(uint64_t size, uint64_t at, uint64_t max = kMax, uint64_t align = 1) {
  return Constraint{size, at, max, align, AllocPolicy::kExactMatch};
}

// --- The error contract, each row with the state unchanged ----------------------------

class AllocatorErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(allocator_.Reserve(InclusiveRange{0x1000, 0x1fff}));
    before_free_ = allocator_.FreeRanges();
    before_used_ = allocator_.AllocatedRanges();
  }
  void ExpectUnchanged() {
    EXPECT_EQ(allocator_.FreeRanges(), before_free_);
    EXPECT_EQ(allocator_.AllocatedRanges(), before_used_);
  }

  IntervalAllocator allocator_{InclusiveRange{0, 0xffff}};
  std::vector<InclusiveRange> before_free_;
  std::vector<InclusiveRange> before_used_;
};

TEST_F(AllocatorErrorTest, SizeZeroIsInvalidArgument) {
  EXPECT_THAT(allocator_.Allocate(First(0)), StatusIs(absl::StatusCode::kInvalidArgument));
  ExpectUnchanged();
}

TEST_F(AllocatorErrorTest, AlignmentNotPowerOfTwoIsInvalidArgument) {
  EXPECT_THAT(allocator_.Allocate(First(16, 0, kMax, 3)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0x3")));
  EXPECT_THAT(allocator_.Allocate(First(16, 0, kMax, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(allocator_.Allocate(First(16, 0, kMax, 0x1001)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ExpectUnchanged();
}

TEST_F(AllocatorErrorTest, MinAboveMaxIsInvalidArgument) {
  EXPECT_THAT(allocator_.Allocate(First(1, 0x200, 0x100)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0x200")));
  EXPECT_THAT(allocator_.Reserve(InclusiveRange{5, 4}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(allocator_.Free(InclusiveRange{5, 4}), StatusIs(absl::StatusCode::kInvalidArgument));
  ExpectUnchanged();
}

TEST_F(AllocatorErrorTest, SizeLargerThanWindowIsResourceExhausted) {
  EXPECT_THAT(allocator_.Allocate(First(0x101, 0x100, 0x1ff)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("0x101")));
  EXPECT_THAT(allocator_.Allocate(First(kMax)), StatusIs(absl::StatusCode::kResourceExhausted));
  ExpectUnchanged();
}

TEST_F(AllocatorErrorTest, UnsatisfiableIsResourceExhausted) {
  // The window is entirely reserved.
  EXPECT_THAT(allocator_.Allocate(First(1, 0x1000, 0x1fff)),
              StatusIs(absl::StatusCode::kResourceExhausted));
  // Outside the allocator's space.
  EXPECT_THAT(allocator_.Allocate(First(1, 0x10000, 0x20000)),
              StatusIs(absl::StatusCode::kResourceExhausted));
  // Exact match on a taken address, and on a misaligned one.
  EXPECT_THAT(allocator_.Allocate(Exact(1, 0x1800)),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(allocator_.Allocate(Exact(1, 0x2001, kMax, 2)),
              StatusIs(absl::StatusCode::kResourceExhausted));
  // Reserve of a range that is partly taken.
  EXPECT_THAT(allocator_.Reserve(InclusiveRange{0xff0, 0x1000}),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("0xff0")));
  ExpectUnchanged();
}

TEST_F(AllocatorErrorTest, FreeingWhatIsNotAllocatedIsNotFound) {
  EXPECT_THAT(allocator_.Free(InclusiveRange{0x1000, 0x1ffe}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(allocator_.Free(InclusiveRange{0x1001, 0x1fff}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(allocator_.Free(InclusiveRange{0x3000, 0x3fff}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("0x3000")));
  ExpectUnchanged();
  ASSERT_OK(allocator_.Free(InclusiveRange{0x1000, 0x1fff}));
  EXPECT_THAT(allocator_.Free(InclusiveRange{0x1000, 0x1fff}),
              StatusIs(absl::StatusCode::kNotFound));
}

// --- Policies and edges ---------------------------------------------------------------

TEST(IntervalAllocatorTest, FirstMatchIsLowestAlignedAddress) {
  IntervalAllocator a(InclusiveRange{0x10, 0xff});
  EXPECT_THAT(a.Allocate(First(4)), IsOkAndHolds(InclusiveRange{0x10, 0x13}));
  EXPECT_THAT(a.Allocate(First(4, 0, kMax, 0x20)), IsOkAndHolds(InclusiveRange{0x20, 0x23}));
  EXPECT_THAT(a.Allocate(First(4)), IsOkAndHolds(InclusiveRange{0x14, 0x17}));
}

TEST(IntervalAllocatorTest, LastMatchIsHighestAlignedAddress) {
  IntervalAllocator a(InclusiveRange{0x10, 0xff});
  EXPECT_THAT(a.Allocate(Last(4)), IsOkAndHolds(InclusiveRange{0xfc, 0xff}));
  EXPECT_THAT(a.Allocate(Last(4, 0, kMax, 0x20)), IsOkAndHolds(InclusiveRange{0xe0, 0xe3}));
  EXPECT_THAT(a.Allocate(Last(0x10, 0, 0xdf)), IsOkAndHolds(InclusiveRange{0xd0, 0xdf}));
}

TEST(IntervalAllocatorTest, ExactMatchIsAtMin) {
  IntervalAllocator a(InclusiveRange{0, 0xff});
  EXPECT_THAT(a.Allocate(Exact(8, 0x40)), IsOkAndHolds(InclusiveRange{0x40, 0x47}));
  EXPECT_THAT(a.Allocate(Exact(8, 0x44)), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(a.Allocate(Exact(8, 0x48, 0x4e)), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(a.Allocate(Exact(8, 0x48, 0x4f)), IsOkAndHolds(InclusiveRange{0x48, 0x4f}));
}

TEST(IntervalAllocatorTest, WholeSpaceIsExpressible) {
  IntervalAllocator a(InclusiveRange{0, kMax});
  EXPECT_THAT(a.FreeRanges(), ElementsAre(InclusiveRange{0, kMax}));
  // The largest possible size.
  ASSERT_OK_AND_ASSIGN(InclusiveRange all_but_one, a.Allocate(First(kMax)));
  EXPECT_EQ(all_but_one, (InclusiveRange{0, kMax - 1}));
  EXPECT_THAT(a.Allocate(First(1)), IsOkAndHolds(InclusiveRange{kMax, kMax}));
  EXPECT_TRUE(a.FreeRanges().empty());
  EXPECT_THAT(a.Allocate(First(1)), StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_OK(a.Free(InclusiveRange{kMax, kMax}));
  ASSERT_OK(a.Free(all_but_one));
  EXPECT_THAT(a.FreeRanges(), ElementsAre(InclusiveRange{0, kMax}));
}

TEST(IntervalAllocatorTest, PoliciesAtTheTopOfTheSpace) {
  IntervalAllocator a(InclusiveRange{kMax - 0xff, kMax});
  EXPECT_THAT(a.Allocate(Last(0x10)), IsOkAndHolds(InclusiveRange{kMax - 0xf, kMax}));
  EXPECT_THAT(a.Allocate(Exact(1, kMax - 0x10)),
              IsOkAndHolds(InclusiveRange{kMax - 0x10, kMax - 0x10}));
  // Aligning up from near 2^64 must not wrap to 0.
  EXPECT_THAT(a.Allocate(First(1, kMax - 0x0e, kMax, 0x1000)),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(a.Allocate(First(1, 0, kMax, uint64_t{1} << 63)),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(a.Allocate(First(0x20, 0, kMax, 0x20)),
              IsOkAndHolds(InclusiveRange{kMax - 0xff, kMax - 0xe0}));
  ASSERT_OK(a.Free(InclusiveRange{kMax - 0xf, kMax}));
  EXPECT_TRUE(a.IsFree(InclusiveRange{kMax - 0xf, kMax}));
}

TEST(IntervalAllocatorTest, PoliciesAtZero) {
  IntervalAllocator a(InclusiveRange{0, 0xff});
  EXPECT_THAT(a.Allocate(First(1, 0, 0)), IsOkAndHolds(InclusiveRange{0, 0}));
  EXPECT_THAT(a.Allocate(Last(1, 0, 1)), IsOkAndHolds(InclusiveRange{1, 1}));
  EXPECT_THAT(a.Allocate(Last(1, 0, 1)), StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_OK(a.Free(InclusiveRange{0, 0}));
  EXPECT_THAT(a.Allocate(Exact(1, 0)), IsOkAndHolds(InclusiveRange{0, 0}));
}

TEST(IntervalAllocatorTest, LargestAlignmentWorks) {
  IntervalAllocator a(InclusiveRange{0, kMax});
  constexpr uint64_t kTop = uint64_t{1} << 63;
  EXPECT_THAT(a.Allocate(Last(1, 0, kMax, kTop)), IsOkAndHolds(InclusiveRange{kTop, kTop}));
  EXPECT_THAT(a.Allocate(Last(1, 0, kMax, kTop)), IsOkAndHolds(InclusiveRange{0, 0}));
}

// rust-vmm vm-allocator lost a range when a freed range started at address 1.
TEST(IntervalAllocatorTest, FreeingARangeAtAddressOneKeepsIt) {
  IntervalAllocator a(InclusiveRange{0, 0xff});
  ASSERT_OK(a.Reserve(InclusiveRange{0, 0}));
  ASSERT_OK(a.Reserve(InclusiveRange{1, 0x10}));
  ASSERT_OK(a.Free(InclusiveRange{1, 0x10}));
  EXPECT_THAT(a.FreeRanges(), ElementsAre(InclusiveRange{1, 0xff}));
  EXPECT_THAT(a.Allocate(Exact(0x10, 1)), IsOkAndHolds(InclusiveRange{1, 0x10}));
}

// rust-vmm vm-allocator never merged free neighbours of size 1.
TEST(IntervalAllocatorTest, SizeOneNeighboursCoalesce) {
  IntervalAllocator a(InclusiveRange{0, 9});
  for (uint64_t i = 0; i < 10; ++i) ASSERT_OK(a.Reserve(InclusiveRange{i, i}));
  for (uint64_t i = 0; i < 10; i += 2) ASSERT_OK(a.Free(InclusiveRange{i, i}));
  EXPECT_EQ(a.free_range_count(), 5u);
  for (uint64_t i = 1; i < 10; i += 2) ASSERT_OK(a.Free(InclusiveRange{i, i}));
  EXPECT_THAT(a.FreeRanges(), ElementsAre(InclusiveRange{0, 9}));
  EXPECT_THAT(a.Allocate(First(10)), IsOkAndHolds(InclusiveRange{0, 9}));
}

TEST(IntervalAllocatorTest, AlignmentSkipsMisalignedFragments) {
  // Many free fragments large enough but misaligned, one aligned at the end.
  IntervalAllocator a(InclusiveRange{0, 0x100000 - 1});
  for (uint64_t base = 0; base < 0x100000; base += 0x100) {
    ASSERT_OK(a.Reserve(InclusiveRange{base, base + 0x7f}));
  }
  // Free gaps are [base+0x80, base+0xff]: 0x80 bytes, aligned to 0x80 only.
  EXPECT_THAT(a.Allocate(First(0x80, 0, kMax, 0x100)),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(a.Allocate(First(0x80, 0, kMax, 0x80)), IsOkAndHolds(InclusiveRange{0x80, 0xff}));
  EXPECT_THAT(a.Allocate(Last(0x40, 0, kMax, 0x40)),
              IsOkAndHolds(InclusiveRange{0xfffc0, 0xfffff}));
}

TEST(IntervalAllocatorTest, EmptyWindowAllocatesNothing) {
  IntervalAllocator a(InclusiveRange{5, 4});
  EXPECT_FALSE(a.window().has_value());
  EXPECT_THAT(a.Allocate(First(1)), StatusIs(absl::StatusCode::kResourceExhausted));
}

// --- A randomized comparison with a bitmap model --------------------------------------

constexpr uint64_t kDefaultAligns[] = {1, 1, 1, 2, 4, 8, 16, 64, 3, 0};

void RunRandomComparison(uint64_t base, uint32_t seed, int operations,
                         absl::Span<const uint64_t> aligns = kDefaultAligns) {
  constexpr size_t kUnits = 256;
  IntervalAllocator allocator(InclusiveRange{base, base + kUnits - 1});
  BitmapModel model(base, kUnits);
  std::mt19937_64 rng(seed);
  auto pick = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
  // An address near the window, clipped to 64 bits.
  auto address = [&]() -> uint64_t {
    const int64_t offset = static_cast<int64_t>(pick(kUnits + 32)) - 16;
    if (offset < 0 && base < static_cast<uint64_t>(-offset)) return 0;
    const uint64_t a = base + static_cast<uint64_t>(offset);
    if (offset > 0 && a < base) return kMax;
    return a;
  };
  for (int step = 0; step < operations; ++step) {
    const uint64_t op = pick(10);
    if (op < 5) {
      Constraint c;
      c.size = pick(6) == 0 ? pick(3) : 1 + pick(pick(2) == 0 ? 4 : 40);
      c.min = address();
      c.max = pick(4) == 0 ? kMax : address();
      c.align = aligns[pick(aligns.size())];
      c.policy = static_cast<AllocPolicy>(pick(3));
      absl::StatusOr<InclusiveRange> got = allocator.Allocate(c);
      absl::StatusOr<InclusiveRange> want = model.Allocate(c);
      ASSERT_EQ(got.status().code(), want.status().code())
          << "step " << step << " size " << c.size << " [" << c.min << "," << c.max << "] align "
          << c.align << " policy " << static_cast<int>(c.policy) << ": " << got.status();
      if (want.ok()) {
        ASSERT_EQ(*got, *want) << "step " << step;
      }
    } else if (op < 8 && !model.ranges().empty()) {
      // Free an allocated range, or a near miss of one.
      auto it = model.ranges().begin();
      std::advance(it, pick(model.ranges().size()));
      InclusiveRange r{it->first, it->second};
      if (pick(5) == 0) r.max += (r.max == kMax ? 0 : 1);
      if (pick(7) == 0) r.min += 1;
      ASSERT_EQ(allocator.Free(r).code(), model.Free(r).code()) << "step " << step;
    } else {
      const uint64_t min = address();
      const uint64_t max = pick(8) == 0 ? min - 1 : min + pick(8);
      const InclusiveRange r{min, max < min && pick(2) ? kMax : max};
      ASSERT_EQ(allocator.Reserve(r).code(), model.Reserve(r).code())
          << "step " << step << " " << r;
    }
    ASSERT_EQ(allocator.FreeRanges(), model.FreeRanges()) << "step " << step;
  }
  std::vector<InclusiveRange> used;
  for (const auto& [min, max] : model.ranges()) used.push_back(InclusiveRange{min, max});
  EXPECT_EQ(allocator.AllocatedRanges(), used);
}

TEST(IntervalAllocatorModelTest, MatchesBitmapModelAtZero) { RunRandomComparison(0, 1, 100000); }

TEST(IntervalAllocatorModelTest, MatchesBitmapModelAtTopOfSpace) {
  RunRandomComparison(kMax - 255, 2, 50000);
}

TEST(IntervalAllocatorModelTest, MatchesBitmapModelInTheMiddle) {
  RunRandomComparison(0x1000, 3, 50000);
}

// Alignments of every summary class and between them (the allocator keeps exact capacities
// for a few classes and decides the others at each node), and alignments far larger than
// the 256-unit window, at 0, at the top of the space where gaps end at 2^64-1, and at an
// address aligned to 2^40 so that large alignments land inside the window.
constexpr uint64_t kEveryAlign[] = {1,
                                    2,
                                    4,
                                    8,
                                    16,
                                    32,
                                    64,
                                    128,
                                    256,
                                    512,
                                    4096,
                                    1 << 13,
                                    1 << 16,
                                    1 << 20,
                                    1 << 21,
                                    uint64_t{1} << 30,
                                    uint64_t{1} << 40,
                                    uint64_t{1} << 63,
                                    6,
                                    0};

TEST(IntervalAllocatorModelTest, EveryAlignmentClassMatchesTheModelAtZero) {
  RunRandomComparison(0, 4, 30000, kEveryAlign);
}

TEST(IntervalAllocatorModelTest, AlignmentsLargerThanTheWindowMatchTheModelAtTheTop) {
  RunRandomComparison(kMax - 255, 5, 30000, kEveryAlign);
}

TEST(IntervalAllocatorModelTest, AlignmentsLargerThanTheWindowMatchTheModelAt2To40) {
  RunRandomComparison((uint64_t{1} << 40) - 128, 6, 30000, kEveryAlign);
}

// --- IdAllocator -----------------------------------------------------------------------

TEST(IdAllocatorTest, SpecificAndAnyId) {
  IdAllocator irqs(0, 23);
  EXPECT_THAT(irqs.Allocate(4), IsOkAndHolds(4u));
  EXPECT_THAT(irqs.Allocate(4), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(irqs.Allocate(), IsOkAndHolds(0u));
  EXPECT_THAT(irqs.Allocate(24), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(irqs.Free(4));
  EXPECT_TRUE(irqs.IsFree(4));
  EXPECT_THAT(irqs.Free(4), StatusIs(absl::StatusCode::kNotFound));
}

TEST(IdAllocatorTest, SharedIrqIsReferenceCounted) {
  IdAllocator irqs(5, 7);
  EXPECT_THAT(irqs.AllocateShared(5), IsOkAndHolds(5u));
  EXPECT_THAT(irqs.AllocateShared(5), IsOkAndHolds(5u));
  EXPECT_EQ(irqs.ShareCount(5), 2u);
  // Not to a device that wants it exclusively.
  EXPECT_THAT(irqs.Allocate(5), StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_OK(irqs.Free(5));
  EXPECT_FALSE(irqs.IsFree(5));
  ASSERT_OK(irqs.Free(5));
  EXPECT_TRUE(irqs.IsFree(5));
  EXPECT_EQ(irqs.ShareCount(5), 0u);
}

TEST(IdAllocatorTest, ExclusiveIrqCannotBeShared) {
  IdAllocator irqs(0, 15);
  ASSERT_OK(irqs.Allocate(4).status());
  EXPECT_THAT(irqs.AllocateShared(4), StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(IdAllocatorTest, SharingFallsBackToLeastSharedWhenFull) {
  IdAllocator irqs(0, 1);
  EXPECT_THAT(irqs.AllocateShared(), IsOkAndHolds(0u));
  EXPECT_THAT(irqs.AllocateShared(), IsOkAndHolds(1u));
  EXPECT_THAT(irqs.AllocateShared(), IsOkAndHolds(0u));
  EXPECT_THAT(irqs.AllocateShared(), IsOkAndHolds(1u));
  EXPECT_EQ(irqs.ShareCount(0), 2u);
}

TEST(IdAllocatorTest, MsiBlocksAlignedToTheirSize) {
  IdAllocator msi(24, 255);
  EXPECT_THAT(msi.AllocateBlock(1), IsOkAndHolds(24u));
  EXPECT_THAT(msi.AllocateBlock(8, 8), IsOkAndHolds(32u));
  EXPECT_THAT(msi.AllocateBlock(4, 4), IsOkAndHolds(28u));
  EXPECT_THAT(msi.AllocateBlock(3), IsOkAndHolds(25u));
  EXPECT_THAT(msi.FreeBlock(32, 4), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(msi.FreeBlock(32, 8));
}

TEST(IdAllocatorTest, SlotsAtFirst) {
  IdAllocator slots(0, 31);
  EXPECT_THAT(slots.AllocateBlock(2, 1, 10), IsOkAndHolds(10u));
  EXPECT_THAT(slots.AllocateBlock(2, 1, 11), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(slots.AllocateBlock(2, 1, 31), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(slots.AllocateBlock(0), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace dbs
