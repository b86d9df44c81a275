#include "dbs_device/bus/io_bus.h"

#include <atomic>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

using ::dbs::testing::StatusIs;
using ::testing::HasSubstr;

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
constexpr AddressSpace kPio = AddressSpace::kPio;
constexpr AddressSpace kMmio = AddressSpace::kMmio;

BusRange Pio(uint64_t base, uint64_t size) { return BusRange{kPio, base, size}; }
BusRange Mmio(uint64_t base, uint64_t size) { return BusRange{kMmio, base, size}; }

// The value registered at (space, address), or -1; also checks the access fits.
int Value(const IoBus<int>& bus, AddressSpace space, uint64_t address, uint64_t length = 1) {
  ReadSection section;
  BusLookup<int> hit = bus.Current(section).Find(space, address, length);
  return hit.ok() ? hit.entry->value : -1;
}

class IoBusContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(bus_.Register(Pio(0x3f8, 8), 1));
    ASSERT_OK(bus_.Register(Mmio(0x1000, 0x1000), 2));
    ASSERT_OK(bus_.Register(Mmio(kMax - 0xfff, 0x1000), 3));
    generation_ = bus_.generation();
  }

  // Nothing was published and the old devices still answer.
  void ExpectUnchanged() {
    EXPECT_EQ(bus_.generation(), generation_);
    EXPECT_EQ(Value(bus_, kPio, 0x3f8), 1);
    EXPECT_EQ(Value(bus_, kPio, 0x3ff), 1);
    EXPECT_EQ(Value(bus_, kMmio, 0x1fff), 2);
    EXPECT_EQ(Value(bus_, kMmio, kMax), 3);
    ReadSection section;
    EXPECT_EQ(bus_.Current(section).size(), 3u);
  }

  IoBus<int> bus_;
  uint64_t generation_ = 0;
};

TEST_F(IoBusContractTest, PartialOverlapIsAlreadyExists) {
  EXPECT_THAT(bus_.Register(Pio(0x3f0, 9), 9),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0x3f8")));
  EXPECT_THAT(bus_.Register(Pio(0x3ff, 2), 9), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(bus_.Register(Mmio(0x800, 0x801), 9), StatusIs(absl::StatusCode::kAlreadyExists));
  ExpectUnchanged();
}

TEST_F(IoBusContractTest, ContainingRangeIsAlreadyExists) {
  EXPECT_THAT(bus_.Register(Pio(0x300, 0x100), 9),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0x300")));
  EXPECT_THAT(bus_.Register(Mmio(0, 0x10000), 9), StatusIs(absl::StatusCode::kAlreadyExists));
  ExpectUnchanged();
}

TEST_F(IoBusContractTest, ContainedRangeIsAlreadyExists) {
  EXPECT_THAT(bus_.Register(Pio(0x3fa, 2), 9), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(bus_.Register(Mmio(kMax, 1), 9), StatusIs(absl::StatusCode::kAlreadyExists));
  ExpectUnchanged();
}

TEST_F(IoBusContractTest, SameBaseIsAlreadyExistsAndDoesNotReplace) {
  EXPECT_THAT(bus_.Register(Pio(0x3f8, 1), 9), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(bus_.Register(Pio(0x3f8, 8), 9), StatusIs(absl::StatusCode::kAlreadyExists));
  ExpectUnchanged();
}

TEST_F(IoBusContractTest, SameRangeInTheOtherSpaceIsIndependent) {
  ASSERT_OK(bus_.Register(Mmio(0x3f8, 8), 5));
  EXPECT_EQ(Value(bus_, kMmio, 0x3f8), 5);
  EXPECT_EQ(Value(bus_, kPio, 0x3f8), 1);
}

TEST_F(IoBusContractTest, SizeZeroIsInvalidArgument) {
  EXPECT_THAT(bus_.Register(Pio(0x100, 0), 9),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0x100")));
  EXPECT_THAT(bus_.Register(Mmio(0, 0), 9), StatusIs(absl::StatusCode::kInvalidArgument));
  ExpectUnchanged();
}

TEST_F(IoBusContractTest, PastTheEndOfTheSpaceIsInvalidArgument) {
  EXPECT_THAT(bus_.Register(Pio(0xfff8, 9), 9),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0xfff8")));
  EXPECT_THAT(bus_.Register(Pio(0x10000, 1), 9), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(bus_.Register(Mmio(kMax, 2), 9), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(bus_.Register(Mmio(2, kMax), 9), StatusIs(absl::StatusCode::kInvalidArgument));
  ExpectUnchanged();
  // The last port and the last MMIO byte are usable.
  ASSERT_OK(bus_.Register(Pio(0xffff, 1), 7));
  EXPECT_EQ(Value(bus_, kPio, 0xffff), 7);
}

TEST_F(IoBusContractTest, LookupWithNoRangeIsNotFound) {
  ReadSection section;
  const auto& snapshot = bus_.Current(section);
  EXPECT_THAT(snapshot.Lookup(kPio, 0x3f7, 1),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("0x3f7")));
  EXPECT_THAT(snapshot.Lookup(kPio, 0x400, 1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(snapshot.Lookup(kMmio, 0, 4), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(snapshot.Lookup(kMmio, 0x2000, 4), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(snapshot.Lookup(kMmio, kMax - 0x1000, 1), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(IoBusContractTest, AccessPastTheEndOfItsRangeIsOutOfRange) {
  ReadSection section;
  const auto& snapshot = bus_.Current(section);
  EXPECT_THAT(snapshot.Lookup(kPio, 0x3ff, 2),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("0x3ff")));
  EXPECT_THAT(snapshot.Lookup(kMmio, 0x1ffd, 4), StatusIs(absl::StatusCode::kOutOfRange));
  // At the top of the space the end must not wrap around.
  EXPECT_THAT(snapshot.Lookup(kMmio, kMax, 2), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(snapshot.Lookup(kMmio, kMax - 3, kMax), StatusIs(absl::StatusCode::kOutOfRange));
}

TEST_F(IoBusContractTest, ZeroLengthAccessIsInvalidArgument) {
  ReadSection section;
  EXPECT_THAT(bus_.Current(section).Lookup(kPio, 0x3f8, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0x3f8")));
}

TEST_F(IoBusContractTest, HitReturnsEntryAndOffset) {
  ReadSection section;
  const auto& snapshot = bus_.Current(section);
  ASSERT_OK_AND_ASSIGN(BusLookup<int> hit, snapshot.Lookup(kPio, 0x3fd, 1));
  EXPECT_EQ(hit.entry->value, 1);
  EXPECT_EQ(hit.entry->range, Pio(0x3f8, 8));
  EXPECT_EQ(hit.offset, 5u);
  ASSERT_OK_AND_ASSIGN(hit, snapshot.Lookup(kMmio, kMax - 3, 4));
  EXPECT_EQ(hit.entry->value, 3);
  EXPECT_EQ(hit.offset, 0xffcu);
  ASSERT_OK_AND_ASSIGN(hit, snapshot.Lookup(kMmio, 0x1000, 0x1000));
  EXPECT_EQ(hit.offset, 0u);
}

TEST_F(IoBusContractTest, RemovingARangeNotRegisteredExactlyIsNotFound) {
  EXPECT_THAT(bus_.Unregister(Pio(0x3f8, 4)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("0x3f8")));
  EXPECT_THAT(bus_.Unregister(Pio(0x3f9, 7)), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(bus_.Unregister(Mmio(0x3f8, 8)), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(bus_.Move(Pio(0x3f8, 4), 0x2f8), StatusIs(absl::StatusCode::kNotFound));
  ExpectUnchanged();
  ASSERT_OK(bus_.Unregister(Pio(0x3f8, 8)));
  EXPECT_EQ(Value(bus_, kPio, 0x3f8), -1);
}

TEST_F(IoBusContractTest, BatchFailingOnItsLastOperationPublishesNothing) {
  IoBus<int>::Transaction batch;
  batch.Register(Pio(0x2f8, 8), 4)
      .Remove(Mmio(0x1000, 0x1000))
      .Move(Pio(0x3f8, 8), 0x3e8)
      .Insert(Pio(0x2fc, 1), 5);
  EXPECT_THAT(bus_.Apply(std::move(batch)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("operation 4 of 4")));
  ExpectUnchanged();
  EXPECT_EQ(Value(bus_, kPio, 0x2f8), -1);
  EXPECT_EQ(Value(bus_, kPio, 0x3e8), -1);
}

// Transactions are checked on the map they produce, not change by change.
TEST(IoBusTransactionTest, ASwapOfTwoRangesCommits) {
  IoBus<int> bus;
  ASSERT_OK(bus.Register(Mmio(0x1000, 0x1000), 1));
  ASSERT_OK(bus.Register(Mmio(0x2000, 0x1000), 2));
  IoBus<int>::Transaction swap;
  swap.Move(Mmio(0x1000, 0x1000), 0x2000).Move(Mmio(0x2000, 0x1000), 0x1000);
  IoBus<int>::Publication publication = bus.Publish(std::move(swap));
  ASSERT_OK(publication.status());
  EXPECT_EQ(publication.inserted().size(), 2u);
  EXPECT_EQ(publication.removed().size(), 2u);
  publication.Finish();
  EXPECT_EQ(Value(bus, kMmio, 0x1800), 2);
  EXPECT_EQ(Value(bus, kMmio, 0x2800), 1);
  EXPECT_EQ(bus.generation(), 3u);
}

TEST(IoBusTransactionTest, AShiftThatOverlapsOnlyOnTheWayCommits) {
  IoBus<int> bus;
  for (int i = 0; i < 4; ++i) ASSERT_OK(bus.Register(Pio(0x100 + 8 * i, 8), i));
  // Each range moves up by 4 ports, lowest first: every move but the last lands on the
  // range above it until that one moves too.
  IoBus<int>::Transaction shift;
  for (int i = 0; i < 4; ++i) shift.Move(Pio(0x100 + 8 * i, 8), 0x104 + 8 * i);
  ASSERT_OK(bus.Apply(std::move(shift)));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Value(bus, kPio, 0x104 + 8 * i), i);
    EXPECT_EQ(Value(bus, kPio, 0x10b + 8 * i), i);
  }
  EXPECT_EQ(Value(bus, kPio, 0x100), -1);
}

TEST(IoBusTransactionTest, AFinalOverlapIsRefusedNamingTheChangeAndChangesNothing) {
  IoBus<int> bus;
  ASSERT_OK(bus.Register(Mmio(0x1000, 0x1000), 1));
  ASSERT_OK(bus.Register(Mmio(0x2000, 0x1000), 2));
  IoBus<int>::Transaction transaction;
  transaction
      .Register(Mmio(0x8000, 0x10), 3)     // fine
      .Move(Mmio(0x1000, 0x1000), 0x2800)  // still overlaps 2 at the end
      .Register(Mmio(0x9000, 0x10), 4);    // fine
  EXPECT_THAT(bus.Apply(std::move(transaction)),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("operation 2 of 3: MMIO [0x2800, 0x37ff] overlaps")));
  EXPECT_EQ(bus.generation(), 2u);
  EXPECT_EQ(Value(bus, kMmio, 0x1000), 1);
  EXPECT_EQ(Value(bus, kMmio, 0x2800), 2);
  EXPECT_EQ(Value(bus, kMmio, 0x8000), -1);
}

TEST(IoBusTransactionTest, ALaterChangeNamesTheRangeAsTheEarlierOnesLeftIt) {
  IoBus<int> bus;
  ASSERT_OK(bus.Register(Pio(0x60, 1), 1));
  IoBus<int>::Transaction transaction;
  // Moved away, then unregistered where it was: not registered there any more.
  transaction.Move(Pio(0x60, 1), 0x61).Unregister(Pio(0x60, 1));
  EXPECT_THAT(bus.Apply(std::move(transaction)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("operation 2 of 2")));
  EXPECT_EQ(Value(bus, kPio, 0x60), 1);
  // Registered, moved twice and unregistered in one transaction: nothing arrives.
  IoBus<int>::Transaction round_trip;
  round_trip.Register(Pio(0x70, 2), 7)
      .Move(Pio(0x70, 2), 0x72)
      .Move(Pio(0x72, 2), 0x60)  // onto range 1, which leaves next
      .Unregister(Pio(0x60, 1))
      .Unregister(Pio(0x60, 2));
  IoBus<int>::Publication publication = bus.Publish(std::move(round_trip));
  ASSERT_OK(publication.status());
  EXPECT_TRUE(publication.inserted().empty());
  EXPECT_EQ(publication.removed().size(), 1u);
  publication.Finish();
  ReadSection section;
  EXPECT_EQ(bus.Current(section).size(), 0u);
}

TEST_F(IoBusContractTest, BatchIsOneGeneration) {
  IoBus<int>::Transaction batch;
  for (uint64_t i = 0; i < 100; ++i) batch.Register(Mmio(0x10000 + i * 0x100, 0x100), 100 + i);
  batch.Unregister(Pio(0x3f8, 8));
  ASSERT_OK(bus_.Apply(std::move(batch)));
  EXPECT_EQ(bus_.generation(), generation_ + 1);
  EXPECT_EQ(Value(bus_, kMmio, 0x10000 + 42 * 0x100 + 7), 142);
  EXPECT_EQ(Value(bus_, kPio, 0x3f8), -1);
}

TEST_F(IoBusContractTest, MoveChangesTheAddressAtomically) {
  ASSERT_OK(bus_.Move(Pio(0x3f8, 8), 0x2f8));
  EXPECT_EQ(bus_.generation(), generation_ + 1);
  EXPECT_EQ(Value(bus_, kPio, 0x3f8), -1);
  EXPECT_EQ(Value(bus_, kPio, 0x2ff), 1);
  // Onto an overlapping position of itself is allowed; onto another range is not.
  ASSERT_OK(bus_.Move(Pio(0x2f8, 8), 0x2fc));
  EXPECT_EQ(Value(bus_, kPio, 0x303), 1);
  EXPECT_THAT(bus_.Move(Mmio(0x1000, 0x1000), kMax - 0x1800),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(bus_.Move(Mmio(0x1000, 0x1000), kMax - 0x800),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Value(bus_, kMmio, 0x1000), 2);
}

// A value with a hot part and a tag, as IoManager maps devices to (pointer, stats slot).
struct Tagged {
  int hot;
  uint32_t tag;
};
struct HotOfTagged {
  int operator()(const Tagged& v) const { return v.hot; }
};
struct TagOfTagged {
  uint32_t operator()(const Tagged& v) const { return v.tag; }
};

// Snapshot, Batch, Change, snapshot(), Insert, Remove and Commit are the names of the
// previous release, kept as aliases: they must still mean what they meant.
TEST(IoBusOlderNamesTest, MeanTheNewOnes) {
  static_assert(std::is_same_v<IoBus<int>::Snapshot, IoBus<int>::Generation>);
  static_assert(std::is_same_v<IoBus<int>::Batch, IoBus<int>::Transaction>);
  static_assert(std::is_same_v<IoBus<int>::Change, IoBus<int>::Publication>);
  IoBus<int> bus;
  ASSERT_OK(bus.Insert(Pio(0x60, 1), 1));
  IoBus<int>::Batch batch;
  batch.Insert(Pio(0x64, 1), 2).Remove(Pio(0x60, 1));
  IoBus<int>::Change change = bus.Commit(std::move(batch));
  ASSERT_OK(change.status());
  EXPECT_EQ(change.inserted().size(), 1u);
  EXPECT_EQ(change.removed().size(), 1u);
  change.Finish();
  EXPECT_OK(bus.Remove(Pio(0x64, 1)));
  ReadSection section;
  EXPECT_EQ(bus.snapshot(section).generation(), 3u);
  EXPECT_EQ(bus.snapshot(section).size(), 0u);
}

TEST(IoBusProjectionTest, HotAndTagComeFromTheEntryFound) {
  IoBus<Tagged, HotOfTagged, TagOfTagged> bus;
  ASSERT_OK(bus.Register(Pio(0x60, 1), Tagged{10, 100}));
  ASSERT_OK(bus.Register(Pio(0x64, 1), Tagged{20, 200}));
  ASSERT_OK(bus.Move(Pio(0x60, 1), 0x70));
  ReadSection section;
  const auto& snapshot = bus.Current(section);
  for (auto [address, hot, tag] : {std::tuple{0x64, 20, 200u}, std::tuple{0x70, 10, 100u}}) {
    const auto hit = snapshot.Find(kPio, address, 1);
    ASSERT_TRUE(hit.ok()) << address;
    EXPECT_EQ(*hit.hot, hot);
    ASSERT_NE(hit.tag, nullptr);
    EXPECT_EQ(*hit.tag, tag);
  }
  EXPECT_FALSE(snapshot.Find(kPio, 0x60, 1).ok());
}

TEST(IoBusProjectionTest, WithoutATagOfThereIsNoTag) {
  IoBus<int> bus;
  ASSERT_OK(bus.Register(Pio(0x60, 1), 7));
  ReadSection section;
  const BusLookup<int> hit = bus.Current(section).Find(kPio, 0x60, 1);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(**hit.hot, 7);  // the default hot projection points at the value
  EXPECT_EQ(hit.tag, nullptr);
}

TEST(IoBusMoveTest, EveryReaderFindsAMovingRangeAtExactlyOnePlace) {
  IoBus<int> bus;
  ASSERT_OK(bus.Register(Mmio(0x10000, 0x1000), 1));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> both{0}, neither{0}, samples{0};
  std::thread reader([&] {
    while (!stop) {
      ReadSection section;
      const auto& snapshot = bus.Current(section);  // one generation for both lookups
      const bool at_a = snapshot.Find(kMmio, 0x10000, 1).ok();
      const bool at_b = snapshot.Find(kMmio, 0x20000, 1).ok();
      if (at_a && at_b) both.fetch_add(1);
      if (!at_a && !at_b) neither.fetch_add(1);
      samples.fetch_add(1);
    }
  });
  uint64_t base = 0x10000;
  for (int i = 0; i < 2000; ++i) {
    const uint64_t to = base == 0x10000 ? 0x20000 : 0x10000;
    ASSERT_OK(bus.Move(Mmio(base, 0x1000), to));
    base = to;
  }
  stop = true;
  reader.join();
  EXPECT_GT(samples.load(), 0u);
  EXPECT_EQ(both.load(), 0u);
  EXPECT_EQ(neither.load(), 0u);
}

// A value that counts its copies' lifetimes and knows when it has been destroyed.
struct Tracked {
  static inline std::atomic<int64_t> live{0};
  explicit Tracked(uint64_t id, BusRange range) : id(id), range(range) { live.fetch_add(1); }
  ~Tracked() {
    alive.store(false, std::memory_order_relaxed);
    live.fetch_sub(1);
  }
  uint64_t id;
  BusRange range;
  std::atomic<bool> alive{true};
};

TEST(IoBusLifetimeTest, ValueIsReleasedAfterAGracePeriod) {
  RcuDomain domain;
  {
    IoBus<std::shared_ptr<Tracked>> bus(domain);
    ASSERT_OK(bus.Register(Pio(0x60, 1), std::make_shared<Tracked>(1, Pio(0x60, 1))));
    std::weak_ptr<Tracked> weak;
    {
      ReadSection section;
      weak = bus.Current(section).Find(kPio, 0x60, 1).entry->value;
      ASSERT_OK(bus.Unregister(Pio(0x60, 1)));
      // Still reachable: this section began before the removal.
      EXPECT_FALSE(weak.expired());
    }
    ASSERT_OK(domain.Synchronize());
    EXPECT_TRUE(weak.expired());
  }
  ASSERT_OK(domain.Synchronize());
  EXPECT_EQ(domain.stats().retired, domain.stats().reclaimed);
  EXPECT_EQ(Tracked::live.load(), 0);
}

TEST(IoBusLifetimeTest, WriterInsideAReadSectionDoesNotWait) {
  RcuDomain domain;
  IoBus<int> bus(domain);
  ReadSection section;
  for (uint64_t i = 0; i < 2000; ++i) {
    ASSERT_OK(bus.Register(Pio(i, 1), static_cast<int>(i)));
  }
  EXPECT_EQ(Value(bus, kPio, 100), 100);
}

// Readers check every answer against the generation it came from, while a writer inserts,
// removes and moves ranges.
void RunStress(int readers) {
  RcuDomain domain;
  using Value = std::shared_ptr<Tracked>;
  auto bus = std::make_unique<IoBus<Value>>(domain);
  // history[g]: the ranges of generation g, by (space, base) -> (size, id).
  internal::Mutex history_mu;
  std::vector<std::map<std::pair<int, uint64_t>, std::pair<uint64_t, uint64_t>>> history(1);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> lookups{0}, hits{0}, checked{0}, wrong{0}, dead{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(r);
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const AddressSpace space = rng() % 2 ? kPio : kMmio;
        const uint64_t address = rng() % 0x2000;
        const uint64_t length = 1 + rng() % 4;
        uint64_t generation;
        uint64_t got_id = 0;
        LookupOutcome outcome;
        {
          ReadSection section;
          const auto& snapshot = bus->snapshot(section);
          generation = snapshot.number();
          BusLookup<Value> hit = snapshot.Find(space, address, length);
          outcome = hit.outcome;
          if (hit.entry != nullptr) {
            const Tracked& t = *hit.entry->value;
            if (!t.alive.load(std::memory_order_relaxed)) dead.fetch_add(1);
            got_id = t.id;
          }
          if (hit.ok()) hits.fetch_add(1, std::memory_order_relaxed);
        }
        ++n;
        if (n % 8 != 0) continue;
        // Brute force over the generation the answer came from.
        internal::MutexLock lock(&history_mu);
        const auto& ranges = history.at(generation);
        LookupOutcome want = LookupOutcome::kNoRange;
        uint64_t want_id = 0;
        for (const auto& [key, value] : ranges) {
          if (key.first != static_cast<int>(space)) continue;
          const uint64_t base = key.second;
          const uint64_t size = value.first;
          if (address >= base && address - base < size) {
            want =
                length <= size - (address - base) ? LookupOutcome::kHit : LookupOutcome::kPastEnd;
            want_id = value.second;
          }
        }
        checked.fetch_add(1, std::memory_order_relaxed);
        if (want != outcome || (want != LookupOutcome::kNoRange && want_id != got_id)) {
          wrong.fetch_add(1);
        }
      }
      lookups.fetch_add(n);
    });
  }

  std::mt19937_64 rng(99);
  std::map<std::pair<int, uint64_t>, std::pair<uint64_t, uint64_t>> current;
  uint64_t next_id = 1;
  int published = 0;
  for (int step = 0; step < 3000; ++step) {
    const AddressSpace space = rng() % 2 ? kPio : kMmio;
    const int s = static_cast<int>(space);
    const uint64_t base = (rng() % 64) * 0x80;
    const uint64_t size = 1 + rng() % 0x100;
    auto next = current;
    IoBus<Value>::Transaction batch;
    const int op = rng() % 3;
    if (op == 0) {
      batch.Register(BusRange{space, base, size},
                     std::make_shared<Tracked>(next_id, BusRange{space, base, size}));
      next[{s, base}] = {size, next_id++};
    } else if (!current.empty()) {
      auto it = current.begin();
      std::advance(it, rng() % current.size());
      const BusRange from{static_cast<AddressSpace>(it->first.first), it->first.second,
                          it->second.first};
      if (op == 1) {
        batch.Unregister(from);
        next.erase(it->first);
      } else {
        // A move keeps the value, so the id follows the range.
        batch.Move(from, base);
        next.erase(it->first);
        next[{it->first.first, base}] = it->second;
      }
    } else {
      continue;
    }
    {
      // Record the candidate generation before it can be seen.
      internal::MutexLock lock(&history_mu);
      history.push_back(next);
    }
    absl::Status status = bus->Apply(std::move(batch));
    internal::MutexLock lock(&history_mu);
    if (status.ok()) {
      current = next;
      ++published;
    } else {
      history.pop_back();  // nothing was published: the slot is reused
    }
  }
  stop = true;
  for (auto& t : threads) t.join();
  bus.reset();
  ASSERT_OK(domain.Synchronize());

  EXPECT_GT(published, 500);
  EXPECT_GT(lookups.load(), 0u);
  EXPECT_GT(hits.load(), 0u);
  EXPECT_GT(checked.load(), 0u);
  EXPECT_EQ(dead.load(), 0u) << "a value was used after it was reclaimed";
  EXPECT_EQ(domain.stats().retired, domain.stats().reclaimed);
  EXPECT_EQ(domain.pending(), 0u);
  EXPECT_EQ(Tracked::live.load(), 0);
  EXPECT_EQ(wrong.load(), 0u) << "an answer matched no published generation";
}

TEST(IoBusStressTest, TwoReaders) { RunStress(2); }
TEST(IoBusStressTest, EightReaders) { RunStress(8); }

}  // namespace
}  // namespace dbs
