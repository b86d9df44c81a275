#include "dbs_device/bus/rcu.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

using ::dbs::testing::StatusIs;

std::atomic<int> g_deleted{0};
void CountingDelete(void* p) {
  delete static_cast<int*>(p);
  g_deleted.fetch_add(1);
}

// A thread inside a read section until Release(); constructed once it is inside.
class HeldReader {
 public:
  HeldReader()
      : thread_([this] {
          ReadSection section;
          inside_ = true;
          while (!release_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }) {
    while (!inside_) std::this_thread::yield();
  }
  ~HeldReader() { Release(); }
  void Release() {
    release_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> inside_{false};
  std::atomic<bool> release_{false};
  std::thread thread_;
};

TEST(ReadSectionTest, NestsAndReportsInSection) {
  EXPECT_FALSE(ReadSection::InSection());
  {
    ReadSection outer;
    EXPECT_TRUE(ReadSection::InSection());
    {
      ReadSection inner;
      EXPECT_TRUE(ReadSection::InSection());
    }
    EXPECT_TRUE(ReadSection::InSection());
  }
  EXPECT_FALSE(ReadSection::InSection());
}

TEST(ReadSectionTest, ANestedSectionEndingDoesNotReleaseTheOuterOne) {
  RcuDomain domain;
  bool reclaimed = false;
  {
    ReadSection outer;
    domain.Call([&reclaimed] { reclaimed = true; });  // retired while `outer` holds
    { ReadSection nested; }
    domain.Poll();
    EXPECT_FALSE(reclaimed) << "reclaimed while the outer section could still see it";
    EXPECT_TRUE(ReadSection::InSection());
  }
  domain.Poll();
  EXPECT_TRUE(reclaimed);
}

TEST(RcuDomainTest, SynchronizeInsideASectionIsFailedPrecondition) {
  RcuDomain domain;
  ReadSection section;
  EXPECT_THAT(domain.Synchronize(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(RcuDomainTest, RetiredObjectOutlivesAReaderThatBeganBefore) {
  RcuDomain domain;
  g_deleted = 0;
  HeldReader reader;

  domain.Retire(new int(7), &CountingDelete);
  std::atomic<bool> synchronized{false};
  std::thread writer([&] {
    EXPECT_OK(domain.Synchronize());
    synchronized = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  domain.Poll();
  EXPECT_FALSE(synchronized.load());
  EXPECT_EQ(g_deleted.load(), 0);
  reader.Release();
  writer.join();
  EXPECT_TRUE(synchronized.load());
  EXPECT_EQ(g_deleted.load(), 1);
  EXPECT_EQ(domain.stats().reclaimed, 1u);
}

TEST(RcuDomainTest, ReaderThatBeginsAfterRetireDoesNotDelayReclamation) {
  RcuDomain domain;
  g_deleted = 0;
  domain.Retire(new int(1), &CountingDelete);
  HeldReader reader;
  // The reader began after the retirement, so a poll may free the object at once.
  domain.Poll();
  EXPECT_EQ(g_deleted.load(), 1);
  reader.Release();
}

TEST(RcuDomainTest, RetireInsideASectionNeverWaits) {
  RcuDomain domain;
  g_deleted = 0;
  const int n = 2000;
  {
    ReadSection section;
    for (int i = 0; i < n; ++i) domain.Retire(new int(i), &CountingDelete);
    // Everything was retired after this section began: nothing may be freed yet.
    EXPECT_EQ(g_deleted.load(), 0);
    EXPECT_EQ(domain.pending(), static_cast<size_t>(n));
  }
  ASSERT_OK(domain.Synchronize());
  EXPECT_EQ(g_deleted.load(), n);
  EXPECT_EQ(domain.pending(), 0u);
}

// ~RcuDomain runs what is left with no lock held, until nothing is left: a callback may
// retire another, which retires a third.
TEST(RcuDomainTest, DestructionRunsAChainOfRetirementsToTheEnd) {
  std::atomic<int> ran{0};
  std::thread destroyer([&ran] {
    auto* domain = new RcuDomain();
    domain->Call([domain, &ran] {
      ran.fetch_add(1);
      domain->Call([domain, &ran] {
        ran.fetch_add(1);
        domain->Call([&ran] { ran.fetch_add(1); });
      });
    });
    delete domain;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (ran.load() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (ran.load() < 3) {
    std::fprintf(stderr, "DEADLOCK: ~RcuDomain ran %d of 3 chained callbacks\n", ran.load());
    std::_Exit(1);  // the destroying thread cannot be joined
  }
  destroyer.join();
  EXPECT_EQ(ran.load(), 3);
}

TEST(RcuDomainTest, CallRunsAfterAGracePeriod) {
  RcuDomain domain;
  bool ran = false;
  domain.Call([&ran] { ran = true; });
  EXPECT_FALSE(ran);
  ASSERT_OK(domain.Synchronize());
  EXPECT_TRUE(ran);
}

// Memory is bounded by what read sections in progress can still see: with a reader that
// keeps entering short sections, polls alone (no Synchronize, no reader pause) reclaim
// everything retired.
TEST(RcuDomainTest, RetiredObjectsAreReclaimedWhileReadersKeepRunning) {
  RcuDomain domain;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sections{0};
  std::thread reader([&] {
    while (!stop) {
      ReadSection section;
      sections.fetch_add(1, std::memory_order_relaxed);
    }
  });
  constexpr int kRetired = 20000;
  for (int i = 0; i < kRetired; ++i) domain.Retire(new int(i));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (domain.pending() > 0 && std::chrono::steady_clock::now() < deadline) {
    domain.Poll();
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  EXPECT_EQ(domain.pending(), 0u);
  EXPECT_EQ(domain.stats().reclaimed, static_cast<uint64_t>(kRetired));
  EXPECT_EQ(domain.stats().grace_periods, 0u);  // polls did it all
  stop = true;
  reader.join();
  EXPECT_GT(sections.load(), 0u);
}

// Polls are rate-limited: a writer retiring back to back (here 200 KiB per thousand
// retirements) polls at most once per min_poll_interval, since each poll interrupts every
// running vCPU, whatever the number of retirements.
TEST(RcuDomainTest, ABusyWriterPollsAtMostOncePerMinimumInterval) {
  RcuDomain::Options options;
  options.poll_bytes = 64 << 10;
  options.min_poll_interval = std::chrono::milliseconds(2);
  RcuDomain domain(options);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) ReadSection section;
  });
  const uint64_t polls_before = domain.stats().polls;
  const auto start = std::chrono::steady_clock::now();
  constexpr int kRetired = 100000;
  for (int i = 0; i < kRetired; ++i) {
    domain.Retire(
        new int(i), [](void* p) { delete static_cast<int*>(p); }, 200);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const uint64_t polls = domain.stats().polls - polls_before;
  stop = true;
  reader.join();
  const uint64_t bound = 1 + static_cast<uint64_t>(elapsed / options.min_poll_interval);
  EXPECT_LE(polls, bound) << "in " << std::chrono::duration<double>(elapsed).count() << " s";
  EXPECT_GT(polls, 0u);  // 20 MB retired: the byte threshold was crossed many times
  EXPECT_LT(polls, static_cast<uint64_t>(kRetired) / 32);  // what polling per 32 would do
  ASSERT_OK(domain.Synchronize());
  EXPECT_EQ(domain.stats().reclaimed, domain.stats().retired);
}

// A retirement after poll_interval of quiet polls even when little was retired, so a slow
// trickle of hotplug is reclaimed too.
TEST(RcuDomainTest, ARetirementAfterAQuietIntervalPolls) {
  RcuDomain::Options options;
  options.poll_interval = std::chrono::milliseconds(20);
  RcuDomain domain(options);
  g_deleted = 0;
  domain.Retire(new int(1), &CountingDelete);
  domain.Retire(new int(2), &CountingDelete);
  EXPECT_EQ(g_deleted.load(), 0);  // small, and too soon: no poll yet
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  domain.Retire(new int(3), &CountingDelete);
  // That retirement polled: the first two (retired before its barrier) are freed.
  EXPECT_GE(g_deleted.load(), 2);
  ASSERT_OK(domain.Synchronize());
  EXPECT_EQ(g_deleted.load(), 3);
}

// Interval-based reclamation: a reader stalled in a section keeps what was born before it
// loaded; what is born and retired while it stays is freed by polls alone.
TEST(RcuDomainTest, AStalledReaderKeepsOnlyWhatItCouldHaveLoaded) {
  RcuDomain domain;
  g_deleted = 0;
  struct Published {
    uint64_t birth;
  };
  auto* first = new Published{RcuDomain::CurrentEpoch()};
  std::atomic<Published*> current{first};
  auto birth_of = [](const Published* p) { return p->birth; };
  std::atomic<bool> loaded{false}, release{false};
  std::thread stalled([&] {
    ReadSection section;
    const Published* seen = section.Load(current, birth_of);
    loaded = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(seen, first);  // still readable
  });
  while (!loaded) std::this_thread::yield();
  auto delete_published = [](void* p) {
    delete static_cast<Published*>(p);
    g_deleted.fetch_add(1);
  };
  // Replace the published object 1,000 times; each replaced one is retired with its birth.
  Published* old = current.load();
  for (int i = 0; i < 1000; ++i) {
    auto* next = new Published{RcuDomain::CurrentEpoch()};
    current.store(next, std::memory_order_release);
    domain.Retire(old, delete_published, sizeof(Published), old->birth);
    old = next;
  }
  domain.Poll();
  // Freed while it is still stalled: all but the one it loaded and the one published right
  // after it, at the very epoch the reader entered at (which it could have loaded too).
  EXPECT_EQ(g_deleted.load(), 998);
  EXPECT_EQ(domain.pending(), 2u);
  release = true;
  stalled.join();
  domain.Poll();
  EXPECT_EQ(g_deleted.load(), 1000);
  delete current.load();
}

// A reader that loads again inside the same section, after publications, announces the newer
// epoch: what it loads then is protected too.
TEST(RcuDomainTest, ALoadAfterPublicationsIsProtectedToo) {
  RcuDomain domain;
  g_deleted = 0;
  struct Published {
    uint64_t birth;
    int value;
  };
  std::atomic<Published*> current{new Published{RcuDomain::CurrentEpoch(), 0}};
  auto birth_of = [](const Published* p) { return p->birth; };
  auto delete_published = [](void* p) {
    delete static_cast<Published*>(p);
    g_deleted.fetch_add(1);
  };
  auto publish = [&](int value) {
    Published* old = current.load();
    current.store(new Published{RcuDomain::CurrentEpoch(), value}, std::memory_order_release);
    domain.Retire(old, delete_published, sizeof(Published), old->birth);
  };
  ReadSection section;
  for (int i = 1; i <= 50; ++i) publish(i);
  const Published* later = section.Load(current, birth_of);  // born after the section began
  EXPECT_EQ(later->value, 50);
  { ReadSection nested; }  // nesting changes nothing
  for (int i = 51; i <= 100; ++i) publish(i);
  domain.Poll();
  EXPECT_EQ(later->value, 50) << "what the section loaded was freed";
  // The reservation now spans the section's entry to its load: the objects alive at some
  // epoch in between (the first 50 and `later`, and the one born at the load's epoch) are
  // kept; the 48 born after it are freed.
  EXPECT_EQ(g_deleted.load(), 48);
  delete current.load();
}

TEST(RcuDomainTest, SlotsOfExitedThreadsAreReused) {
  // More threads over time than there are slots: each exits, freeing its slot.
  const int threads = static_cast<int>(RcuDomain::kMaxThreads) + 100;
  for (int i = 0; i < threads; ++i) {
    std::thread t([] { ReadSection section; });
    t.join();
  }
  RcuDomain domain;
  EXPECT_OK(domain.Synchronize());
}

// A published object that readers check for liveness while writers replace and retire it.
struct Canary {
  static constexpr uint64_t kAlive = 0xa11fe;
  explicit Canary(uint64_t v) : value(v) {}
  ~Canary() { state.store(0, std::memory_order_relaxed); }
  std::atomic<uint64_t> state{kAlive};
  uint64_t value;
};

TEST(RcuDomainTest, StressReadersNeverSeeAReclaimedObject) {
  RcuDomain domain;
  std::atomic<Canary*> published{new Canary(0)};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> dead_reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&] {
      uint64_t local = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        ReadSection section;
        Canary* c = published.load(std::memory_order_acquire);
        {
          ReadSection nested;  // nesting must not end the outer section
        }
        if (c->state.load(std::memory_order_relaxed) != Canary::kAlive) dead_reads.fetch_add(1);
        ++local;
      }
      reads.fetch_add(local);
    });
  }
  constexpr int kWrites = 20000;
  for (int i = 1; i <= kWrites; ++i) {
    Canary* old = published.exchange(new Canary(i), std::memory_order_acq_rel);
    domain.Retire(old);
    if (i % 1000 == 0) {
      ASSERT_OK(domain.Synchronize());
    }
  }
  stop = true;
  for (auto& t : readers) t.join();
  domain.Retire(published.load());
  ASSERT_OK(domain.Synchronize());
  EXPECT_EQ(dead_reads.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(domain.stats().retired, kWrites + 1u);
  EXPECT_EQ(domain.stats().reclaimed, kWrites + 1u);
  EXPECT_EQ(domain.pending(), 0u);
}

}  // namespace
}  // namespace dbs
