// IoBus as a persistent tree: random changes against a model at sizes that split, merge,
// grow and collapse the tree; what one change copies and retires; what Commit reports and
// when it frees; and the exception guarantee.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "dbs_device/bus/internal/persistent_btree_check.h"
#include "dbs_device/bus/io_bus.h"
#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

using ::dbs::testing::StatusIs;
using ::testing::UnorderedElementsAre;

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
constexpr AddressSpace kPio = AddressSpace::kPio;
constexpr AddressSpace kMmio = AddressSpace::kMmio;

BusRange Mmio(uint64_t base, uint64_t size) { return BusRange{kMmio, base, size}; }

// The model: per space, base -> (size, value).
using Model = std::map<std::pair<int, uint64_t>, std::pair<uint64_t, int>>;

// What the model says a one-byte lookup at `address` finds: the value, or -1.
int ModelLookup(const Model& model, AddressSpace space, uint64_t address) {
  const int s = static_cast<int>(space);
  auto it = model.upper_bound({s, address});
  if (it == model.begin()) return -1;
  --it;
  if (it->first.first != s) return -1;
  return address - it->first.second < it->second.first ? it->second.second : -1;
}

// Checks every range of the model at its edges and one past them, the sizes, the order
// ForEach gives and the tree's invariants.
void ExpectMatches(const IoBus<int>& bus, const Model& model) {
  ReadSection section;
  const auto& snapshot = bus.Current(section);
  ASSERT_OK(bus_internal::CheckInvariants(snapshot));
  ASSERT_EQ(snapshot.size(), model.size());
  size_t mismatches = 0;
  for (const auto& [key, value] : model) {
    const auto space = static_cast<AddressSpace>(key.first);
    const uint64_t base = key.second;
    const uint64_t last = base + (value.first - 1);
    for (uint64_t address : {base, last, base - 1, last + 1}) {
      if (space == kPio && address >= 0x10000) continue;
      const auto hit = snapshot.Find(space, address, 1);
      const int got = hit.ok() ? hit.entry->value : -1;
      if (got != ModelLookup(model, space, address)) ++mismatches;
    }
  }
  EXPECT_EQ(mismatches, 0u);
  auto it = model.begin();
  bool in_order = true;
  for (AddressSpace space : {kPio, kMmio}) {
    snapshot.ForEach(space, [&](const BusEntry<int>& entry) {
      in_order = in_order && it != model.end() && it->first.second == entry.range.base &&
                 it->second.second == entry.value;
      ++it;
    });
  }
  EXPECT_TRUE(in_order);
}

// A B+-tree of 16-way nodes, each at least a quarter full below the root, is no deeper than
// this.
uint32_t HeightBound(size_t n) {
  return n == 0 ? 0 : 2 + static_cast<uint32_t>(std::ceil(std::log(double(n)) / std::log(4.0)));
}

// Random registrations, unregistrations, moves and transactions (some failing) at up to
// `target` ranges: a transaction commits iff the map it produces is valid, and the bus then
// matches the model.
void RunAgainstModel(size_t target, uint64_t seed) {
  RcuDomain domain;
  {
    IoBus<int> bus(domain);
    Model model;
    std::mt19937_64 rng(seed);
    int next_value = 1;
    // Bases on a grid, so ranges collide often enough to exercise every error; MMIO
    // also at the very top of the space.
    auto random_range = [&](AddressSpace space) {
      const uint64_t slots = space == kPio ? 0x10000 / 16 : 4 * target;
      uint64_t base = (rng() % slots) * 16;
      if (space == kMmio && rng() % 8 == 0) base = kMax - (rng() % 64) * 16 - 15;
      return BusRange{space, base, 1 + rng() % 24};
    };
    int published = 0, failed = 0;
    const int steps = static_cast<int>(target) * 6;
    // Each check is O(n): about a hundred of them per run.
    const int check_every = std::max<int>(37, static_cast<int>(target) / 17);
    for (int step = 0; step < steps; ++step) {
      // Grow towards the target, then churn around it.
      const bool grow = model.size() < target;
      const int ops = rng() % 4 == 0 ? 1 + static_cast<int>(rng() % 40) : 1;
      IoBus<int>::Transaction batch;
      // The draft: the map as the changes so far leave it, overlaps on the way allowed.
      // A change is refused at once only if its own range is bad or what it unregisters
      // or moves is not in the draft exactly; the whole batch is refused if the final
      // draft has an overlap.
      struct Drafted {
        BusRange range;
        int value;
      };
      std::vector<Drafted> draft;
      for (const auto& [key, value] : model) {
        draft.push_back({BusRange{static_cast<AddressSpace>(key.first), key.second, value.first},
                         value.second});
      }
      auto past_end = [](const BusRange& r) {
        return (r.space == kPio && r.base + r.size > 0x10000) || r.base + (r.size - 1) < r.base;
      };
      bool valid = true;
      for (int i = 0; i < ops && valid; ++i) {
        const AddressSpace space = rng() % 4 == 0 ? kPio : kMmio;
        const int kind = static_cast<int>(rng() % (grow ? 4 : 3));
        if (kind == 0 || kind == 3 || draft.empty()) {
          const BusRange r = random_range(space);
          if (past_end(r)) valid = false;
          batch.Register(r, next_value);
          draft.push_back({r, next_value++});
          continue;
        }
        // Of several ranges exactly there, a change names the one that was there first.
        const BusRange wanted = draft[rng() % draft.size()].range;
        const size_t pick =
            static_cast<size_t>(std::find_if(draft.begin(), draft.end(),
                                             [&](const Drafted& d) { return d.range == wanted; }) -
                                draft.begin());
        const Drafted moving = draft[pick];
        draft.erase(draft.begin() + static_cast<std::ptrdiff_t>(pick));
        if (kind == 1) {
          batch.Unregister(moving.range);
        } else {
          BusRange to = random_range(moving.range.space);
          to.size = moving.range.size;
          if (past_end(to)) valid = false;
          batch.Move(moving.range, to.base);
          draft.push_back({to, moving.value});
        }
      }
      // The final draft, sorted: valid iff no two ranges of a space share an address.
      std::sort(draft.begin(), draft.end(), [](const Drafted& x, const Drafted& y) {
        return std::pair(x.range.space, x.range.base) < std::pair(y.range.space, y.range.base);
      });
      for (size_t i = 1; i < draft.size() && valid; ++i) {
        const BusRange& x = draft[i - 1].range;
        const BusRange& y = draft[i].range;
        if (x.space == y.space && y.base <= x.last()) valid = false;
      }
      const uint64_t generation = bus.generation();
      const absl::Status status = bus.Apply(std::move(batch));
      ASSERT_EQ(status.ok(), valid) << "step " << step << ": " << status;
      if (status.ok()) {
        ++published;
        EXPECT_EQ(bus.generation(), generation + 1);
        model.clear();
        for (const Drafted& d : draft) {
          model[{static_cast<int>(d.range.space), d.range.base}] = {d.range.size, d.value};
        }
      } else {
        ++failed;
        EXPECT_EQ(bus.generation(), generation);
      }
      if (step % check_every == 0 || step == steps - 1) {
        ASSERT_NO_FATAL_FAILURE(ExpectMatches(bus, model));
        ReadSection section;
        const auto& snapshot = bus.Current(section);
        EXPECT_LE(snapshot.height(kMmio), HeightBound(snapshot.size(kMmio)));
        EXPECT_LE(snapshot.height(kPio), HeightBound(snapshot.size(kPio)));
      }
    }
    EXPECT_GT(published, steps / 3);
    EXPECT_GT(failed, 0);
    // Empty it in random order: every step keeps the invariants; the tree collapses.
    std::vector<std::pair<int, uint64_t>> keys;
    for (const auto& [key, value] : model) keys.push_back(key);
    std::shuffle(keys.begin(), keys.end(), rng);
    for (size_t i = 0; i < keys.size(); ++i) {
      const auto& key = keys[i];
      ASSERT_OK(bus.Unregister(
          BusRange{static_cast<AddressSpace>(key.first), key.second, model.at(key).first}));
      model.erase(key);
      if (i % check_every == 0) {
        ASSERT_NO_FATAL_FAILURE(ExpectMatches(bus, model));
      }
    }
    ReadSection section;
    EXPECT_EQ(bus.Current(section).height(kMmio), 0u);
    EXPECT_EQ(bus.Current(section).height(kPio), 0u);
  }
  ASSERT_OK(domain.Synchronize());
  EXPECT_EQ(domain.stats().retired, domain.stats().reclaimed);
  EXPECT_EQ(domain.pending(), 0u);
}

TEST(IoBusTreeTest, RandomChangesMatchAModelAtAFewRanges) { RunAgainstModel(40, 1); }
TEST(IoBusTreeTest, RandomChangesMatchAModelAtAThousandRanges) { RunAgainstModel(1000, 2); }
TEST(IoBusTreeTest, RandomChangesMatchAModelAtFiveThousandRanges) { RunAgainstModel(5000, 3); }

TEST(IoBusTreeTest, AscendingRegistrationFillsEveryNode) {
  IoBus<int> bus;
  IoBus<int>::Transaction batch;
  for (int i = 0; i < 4096; ++i) batch.Register(Mmio(uint64_t(i) * 0x1000, 0x1000), i);
  ASSERT_OK(bus.Apply(std::move(batch)));
  ReadSection section;
  EXPECT_EQ(bus.Current(section).height(kMmio), 3u);  // 16 * 16 * 16
  EXPECT_OK(bus_internal::CheckInvariants(bus.Current(section)));
}

// Publication in O(log n): one change at 65,536 ranges retires the old generation's header,
// the moved range's entry and at most two nodes per level (its path, and a sibling where a
// node is merged or refilled), not the index.
TEST(IoBusTreeTest, OneChangeRetiresOnlyThePathItCopied) {
  RcuDomain domain;
  IoBus<int> bus(domain);
  IoBus<int>::Transaction batch;
  constexpr int kRanges = 65536;
  for (int i = 0; i < kRanges; ++i) batch.Register(Mmio(uint64_t(i) * 0x1000, 0x100), i);
  ASSERT_OK(bus.Apply(std::move(batch)));
  auto height = [&bus] {
    ReadSection section;
    return bus.Current(section).height(kMmio);
  };
  EXPECT_EQ(height(), 4u);  // 16^4, every node full
  for (int i = 0; i < 200; ++i) {
    const uint64_t base = uint64_t(i * 613 % kRanges) * 0x1000;
    for (auto [from, to] : {std::pair{base, base + 0x800}, std::pair{base + 0x800, base}}) {
      const uint64_t before = domain.stats().retired;
      ASSERT_OK(bus.Move(Mmio(from, 0x100), to));
      EXPECT_LE(domain.stats().retired - before, 2 + 2 * height()) << "at " << i;
    }
  }
  // Full nodes split when a range lands in a neighbour: one level more, never two.
  EXPECT_LE(height(), 5u);
  ReadSection section;
  EXPECT_OK(bus_internal::CheckInvariants(bus.Current(section)));
}

TEST(IoBusChangeTest, ListsTheEntriesItAddedAndRemoved) {
  IoBus<int> bus;
  ASSERT_OK(bus.Register(Mmio(0x1000, 0x10), 1));
  ASSERT_OK(bus.Register(Mmio(0x2000, 0x10), 2));
  IoBus<int>::Transaction batch;
  batch.Register(Mmio(0x3000, 0x10), 3)
      .Insert(Mmio(0x4000, 0x10), 4)
      .Remove(Mmio(0x3000, 0x10))  // added and removed by the change: in neither list
      .Remove(Mmio(0x1000, 0x10))
      .Move(Mmio(0x2000, 0x10), 0x5000);
  IoBus<int>::Publication change = bus.Publish(std::move(batch));
  ASSERT_OK(change.status());
  std::vector<std::pair<uint64_t, int>> inserted, removed;
  for (const auto* e : change.inserted()) inserted.push_back({e->range.base, e->value});
  for (const auto* e : change.removed()) removed.push_back({e->range.base, e->value});
  EXPECT_THAT(inserted, UnorderedElementsAre(std::pair<uint64_t, int>{0x4000, 4},
                                             std::pair<uint64_t, int>{0x5000, 2}));
  EXPECT_THAT(removed, UnorderedElementsAre(std::pair<uint64_t, int>{0x1000, 1},
                                            std::pair<uint64_t, int>{0x2000, 2}));
}

TEST(IoBusChangeTest, NothingIsRetiredUntilTheChangeIsFinished) {
  RcuDomain domain;
  IoBus<int> bus(domain);
  ASSERT_OK(bus.Register(Mmio(0x1000, 0x10), 1));
  const uint64_t retired = domain.stats().retired;
  IoBus<int>::Transaction batch;
  batch.Unregister(Mmio(0x1000, 0x10));
  IoBus<int>::Publication change = bus.Publish(std::move(batch));
  ASSERT_OK(change.status());
  EXPECT_EQ(bus.generation(), 2u);  // published already
  EXPECT_EQ(domain.stats().retired, retired);
  change.Finish();
  EXPECT_GT(domain.stats().retired, retired);
  const uint64_t after = domain.stats().retired;
  change.Finish();  // idempotent
  EXPECT_EQ(domain.stats().retired, after);
}

// A value that counts live copies, and whose copy throws when asked to.
struct Fragile {
  static inline int live = 0;
  static inline bool throw_on_copy = false;
  explicit Fragile(int v) : value(v) { ++live; }
  Fragile(const Fragile& other) : value(other.value) {
    if (throw_on_copy) throw std::runtime_error("copy failed");
    ++live;
  }
  Fragile(Fragile&& other) noexcept : value(other.value) { ++live; }
  ~Fragile() { --live; }
  int value;
};

TEST(IoBusChangeTest, AFailedBatchFreesWhatItBuiltAndChangesNothing) {
  RcuDomain domain;
  {
    IoBus<Fragile> bus(domain);
    for (int i = 0; i < 100; ++i)
      ASSERT_OK(bus.Register(Mmio(uint64_t(i) * 0x100, 0x10), Fragile(i)));
    const int live = Fragile::live;
    IoBus<Fragile>::Transaction batch;
    for (int i = 0; i < 50; ++i)
      batch.Register(Mmio(0x100000 + uint64_t(i) * 0x100, 0x10), Fragile(i));
    batch.Register(Mmio(0x105, 0x10), Fragile(-1));  // overlaps the range at 0x100
    IoBus<Fragile>::Publication change = bus.Publish(std::move(batch));
    EXPECT_THAT(change.status(), StatusIs(absl::StatusCode::kAlreadyExists));
    EXPECT_TRUE(change.inserted().empty());
    EXPECT_GT(Fragile::live, live);  // the batch's values live until the change is done
    change.Finish();
    EXPECT_EQ(Fragile::live, live);
    ReadSection section;
    EXPECT_EQ(bus.Current(section).size(), 100u);
    EXPECT_EQ(bus.Current(section).number(), 100u);
    EXPECT_OK(bus_internal::CheckInvariants(bus.Current(section)));
  }
  ASSERT_OK(domain.Synchronize());
  EXPECT_EQ(Fragile::live, 0);
}

TEST(IoBusChangeTest, AValueWhoseCopyThrowsLeavesTheBusAsItWas) {
  RcuDomain domain;
  {
    IoBus<Fragile> bus(domain);
    for (int i = 0; i < 300; ++i)
      ASSERT_OK(bus.Register(Mmio(uint64_t(i) * 0x100, 0x10), Fragile(i)));
    const int live = Fragile::live;
    IoBus<Fragile>::Transaction batch;
    batch.Register(Mmio(0x100000, 0x10), Fragile(7)).Remove(Mmio(0x200, 0x10));
    batch.Move(Mmio(0x300, 0x10), 0x200000);  // a move copies the value
    Fragile::throw_on_copy = true;
    EXPECT_THROW((void)bus.Apply(std::move(batch)), std::runtime_error);
    Fragile::throw_on_copy = false;
    EXPECT_EQ(Fragile::live, live);
    ReadSection section;
    const auto& snapshot = bus.Current(section);
    EXPECT_EQ(snapshot.generation(), 300u);
    EXPECT_EQ(snapshot.size(), 300u);
    EXPECT_NE(snapshot.FindExact(Mmio(0x200, 0x10)), nullptr);
    EXPECT_NE(snapshot.FindExact(Mmio(0x300, 0x10)), nullptr);
    EXPECT_OK(bus_internal::CheckInvariants(snapshot));
  }
  ASSERT_OK(domain.Synchronize());
  EXPECT_EQ(Fragile::live, 0);
}

}  // namespace
}  // namespace dbs
