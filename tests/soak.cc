// soak: hotplug under continuous dispatch, for as long as you like.
//
//   ./bazelw run -c opt //tests:soak -- --seconds=600
//
// vCPU threads dispatch without pause to stable devices (which must always answer, with
// their own pattern) and to the hotplug area (which may or may not answer). Beside them,
// one thread adds and removes devices through DeviceManager, and one registers groups of
// devices with IoManager transactions, moves their ranges like PCI BARs, and unregisters
// them. It asserts, at the end: no dispatch to a stable device was lost or answered wrong;
// no removed device was called after its removal returned (checked for every removed
// device); every retired snapshot was reclaimed; and the resident set stayed flat after the
// warm-up. A progress line every two seconds; a summary with operations per second.
// //tests:soak_test runs it for a few seconds under every sanitizer config.

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/config.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "dbs_device/bus/rcu.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/io_manager.h"
#include "dbs_device/resources/resource_manager.h"

ABSL_FLAG(double, seconds, 30, "how long to run");
ABSL_FLAG(int, vcpus, 2, "dispatching threads");

namespace dbs {
namespace {

// A device that answers (id ^ offset) and counts its calls.
class SoakDevice : public Device {
 public:
  explicit SoakDevice(uint8_t id, std::vector<ResourceConstraint> constraints = {})
      : id_(id), constraints_(std::move(constraints)) {}
  std::string name() const override { return "soak"; }
  std::vector<ResourceConstraint> GetResourceConstraints() const override { return constraints_; }
  void Read(IoAddress, IoAddress offset, absl::Span<uint8_t> data) override {
    Answer(offset.raw_value(), data);
  }
  void PioRead(PioAddress, PioAddress offset, absl::Span<uint8_t> data) override {
    Answer(offset.raw_value(), data);
  }
  void Write(IoAddress, IoAddress, absl::Span<const uint8_t>) override { Count(); }
  void PioWrite(PioAddress, PioAddress, absl::Span<const uint8_t>) override { Count(); }
  uint8_t Expected(uint64_t offset) const { return static_cast<uint8_t>(id_ ^ offset); }
  uint64_t calls() const { return calls_.load(std::memory_order_relaxed); }

 private:
  void Count() { calls_.fetch_add(1, std::memory_order_relaxed); }
  void Answer(uint64_t offset, absl::Span<uint8_t> data) {
    Count();
    for (size_t i = 0; i < data.size(); ++i) data[i] = Expected(offset + i);
  }
  const uint8_t id_;
  const std::vector<ResourceConstraint> constraints_;
  std::atomic<uint64_t> calls_{0};
};

// Bytes the program has allocated and not freed (glibc's count; main() keeps every thread
// on the main arena so the count is complete): unlike the resident set, it does not move
// with the allocator's free lists and fragmentation.
long HeapInUseKiB() { return static_cast<long>(mallinfo2().uordblks / 1024); }

long ResidentKiB() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

struct Removed {
  std::shared_ptr<SoakDevice> device;
  uint64_t calls_at_removal;
};

int Run(double seconds, int vcpus) {
  RcuDomain domain;
  long rss_after_warmup = 0;
  long rss_final = 0;
  long heap_after_warmup = 0;
  long heap_final = 0;
  uint64_t lost = 0, wrong = 0, called_after_removal = 0, dispatches = 0, hot_hits = 0;
  uint64_t adds = 0, transactions = 0, moves = 0;
  RcuDomain::Stats final_stats;
  double elapsed = 0;
  {
    ResourceManager resources = ResourceManager::X86Defaults();
    IoManager io(domain);
    DeviceManager devices(resources, io);

    // Stable devices: a PIO and an MMIO range each, placed by DeviceManager.
    constexpr int kStable = 4;
    std::vector<std::shared_ptr<SoakDevice>> stable;
    std::vector<std::pair<uint16_t, uint64_t>> stable_at;
    for (int i = 0; i < kStable; ++i) {
      auto d = std::make_shared<SoakDevice>(
          static_cast<uint8_t>(0x10 + i),
          std::vector<ResourceConstraint>{PioConstraint{8, 8}, MmioConstraint{0x1000}});
      if (!devices.AddDevice(d).ok()) return 2;
      const DeviceResources r = d->GetAssignedResources();
      stable.push_back(d);
      stable_at.push_back({r.PioRanges()[0].base.raw_value(), r.MmioRanges()[0].base.raw_value()});
    }

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> a_lost{0}, a_wrong{0}, a_dispatches{0}, a_hot{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < vcpus; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(t + 1);
        uint64_t n = 0, hits = 0;
        uint8_t byte = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          const int i = rng() % kStable;
          const uint64_t offset = rng() % 8;
          if (!io.PioRead(static_cast<uint16_t>(stable_at[i].first + offset),
                          absl::MakeSpan(&byte, 1))
                   .ok()) {
            a_lost.fetch_add(1);
          } else if (byte != stable[i]->Expected(offset)) {
            a_wrong.fetch_add(1);
          }
          if (!io.MmioRead(stable_at[i].second + offset, absl::MakeSpan(&byte, 1)).ok()) {
            a_lost.fetch_add(1);
          } else if (byte != stable[i]->Expected(offset)) {
            a_wrong.fetch_add(1);
          }
          // The hotplug areas: devices come and go.
          if (io.MmioRead(0x4000000000 + (rng() % 64) * 0x1000, absl::MakeSpan(&byte, 1)).ok())
            ++hits;
          // Where DeviceManager places its hot-plugged device, after the stable ones.
          if (io.MmioRead(stable_at.back().second + 0x1000 * (1 + rng() % 2),
                          absl::MakeSpan(&byte, 1))
                  .ok()) {
            ++hits;
          }
          n += 4;
        }
        a_dispatches.fetch_add(n);
        a_hot.fetch_add(hits);
      });
    }

    std::mutex removed_mu;
    std::vector<Removed> removed;
    auto check_removed = [&] {
      std::lock_guard lock(removed_mu);
      for (const Removed& r : removed) {
        if (r.device->calls() != r.calls_at_removal) ++called_after_removal;
      }
      removed.clear();  // checked: drop them, so memory stays flat
    };
    std::atomic<uint64_t> a_adds{0}, a_tx{0}, a_moves{0};
    // DeviceManager hotplug.
    threads.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        auto d = std::make_shared<SoakDevice>(
            0x77, std::vector<ResourceConstraint>{MmioConstraint{0x1000}, PioConstraint{4},
                                                  GenericIrqConstraint{2}});
        absl::StatusOr<DeviceId> id = devices.AddDevice(d);
        if (!id.ok() || !devices.RemoveDevice(*id).ok()) {
          std::fprintf(stderr, "soak: DeviceManager hotplug failed\n");
          std::abort();
        }
        std::lock_guard lock(removed_mu);
        removed.push_back({d, d->calls()});
        a_adds.fetch_add(1);
      }
    });
    // Transactions and moves in the hotplug area.
    threads.emplace_back([&] {
      std::mt19937_64 rng(99);
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<std::shared_ptr<SoakDevice>> group;
        std::vector<uint64_t> bases;
        IoManager::Transaction tx = io.Begin();
        for (int i = 0, n = 2 + rng() % 3; i < n; ++i) {
          group.push_back(std::make_shared<SoakDevice>(static_cast<uint8_t>(i)));
          bases.push_back(0x4000000000 + (i * 16 + rng() % 16) * 0x1000);
          (void)tx.Register(group.back(), {MmioRange{bases.back(), 0x1000}});
        }
        if (!tx.Commit().ok()) continue;  // two picks collided: nothing was published
        a_tx.fetch_add(1);
        const uint64_t to = 0x4000100000 + (rng() % 64) * 0x1000;
        if (io.MoveDeviceIo(MmioRange{bases[0], 0x1000}, to).ok()) {
          bases[0] = to;
          a_moves.fetch_add(1);
        }
        IoManager::Transaction rm = io.Begin();
        for (uint64_t b : bases) (void)rm.Unregister({MmioRange{b, 0x1000}});
        if (!rm.Commit().ok() || !io.Synchronize().ok()) {
          std::fprintf(stderr, "soak: unregistering a transaction's devices failed\n");
          std::abort();
        }
        std::lock_guard lock(removed_mu);
        for (const auto& d : group) removed.push_back({d, d->calls()});
      }
    });

    const auto start = std::chrono::steady_clock::now();
    const double warmup = std::min(seconds / 5, 10.0);
    auto next_report = start + std::chrono::seconds(2);
    bool warmed = false;
    while (true) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const auto now = std::chrono::steady_clock::now();
      elapsed = std::chrono::duration<double>(now - start).count();
      check_removed();
      if (!warmed && elapsed >= warmup) {
        rss_after_warmup = ResidentKiB();
        heap_after_warmup = HeapInUseKiB();
        warmed = true;
      }
      if (now >= next_report) {
        std::printf(
            "soak: %5.0f s  hot-adds %llu  transactions %llu  moves %llu  heap %ld KiB  "
            "rss %ld KiB\n",
            elapsed, static_cast<unsigned long long>(a_adds.load()),
            static_cast<unsigned long long>(a_tx.load()),
            static_cast<unsigned long long>(a_moves.load()), HeapInUseKiB(), ResidentKiB());
        std::fflush(stdout);
        next_report += std::chrono::seconds(2);
      }
      if (elapsed >= seconds) break;
    }
    stop = true;
    for (auto& t : threads) t.join();
    check_removed();
    rss_final = ResidentKiB();
    heap_final = HeapInUseKiB();
    lost = a_lost.load();
    wrong = a_wrong.load();
    dispatches = a_dispatches.load();
    hot_hits = a_hot.load();
    adds = a_adds.load();
    transactions = a_tx.load();
    moves = a_moves.load();
  }
  if (!domain.Synchronize().ok()) return 2;
  final_stats = domain.stats();

  std::printf("\nsoak: %.0f s, %d vCPU threads\n", elapsed, vcpus);
  std::printf("  dispatches %llu (%.1f M/s), to hot-plugged devices %llu\n",
              static_cast<unsigned long long>(dispatches), dispatches / elapsed / 1e6,
              static_cast<unsigned long long>(hot_hits));
  std::printf("  DeviceManager add+remove %llu (%.0f/s), transactions %llu (%.0f/s), moves %llu\n",
              static_cast<unsigned long long>(adds), adds / elapsed,
              static_cast<unsigned long long>(transactions), transactions / elapsed,
              static_cast<unsigned long long>(moves));
  std::printf("  lost dispatches %llu, wrong answers %llu, calls after removal %llu\n",
              static_cast<unsigned long long>(lost), static_cast<unsigned long long>(wrong),
              static_cast<unsigned long long>(called_after_removal));
  std::printf("  snapshots and entries retired %llu, reclaimed %llu\n",
              static_cast<unsigned long long>(final_stats.retired),
              static_cast<unsigned long long>(final_stats.reclaimed));
  std::printf(
      "  heap in use after warm-up %ld KiB, at the end %ld KiB; resident set %ld KiB, "
      "%ld KiB\n",
      heap_after_warmup, heap_final, rss_after_warmup, rss_final);
  bool ok = lost == 0 && wrong == 0 && called_after_removal == 0 &&
            final_stats.retired == final_stats.reclaimed && dispatches > 0 && adds > 0 &&
            transactions > 0;
#if !defined(ABSL_HAVE_ADDRESS_SANITIZER) && !defined(ABSL_HAVE_THREAD_SANITIZER)
  // Flat: the heap in use (live allocations) no more than 1 MiB above its warmed-up size,
  // and the resident set (which also holds the allocator's free lists) no more than 8 MiB.
  // Sanitizers' quarantine and shadow memory grow on their own: skipped under them.
  if (heap_after_warmup > 0 && heap_final - heap_after_warmup > 1024) {
    std::printf("  heap in use grew by %ld KiB\n", heap_final - heap_after_warmup);
    ok = false;
  }
  if (rss_after_warmup > 0 && rss_final - rss_after_warmup > 8192) {
    std::printf("  resident set grew by %ld KiB\n", rss_final - rss_after_warmup);
    ok = false;
  }
#endif
  std::printf("soak: %s\n", ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace dbs

int main(int argc, char** argv) {
  mallopt(M_ARENA_MAX, 1);  // one arena, so mallinfo2 counts every thread's allocations
  absl::SetProgramUsageMessage(
      "Hot-plugs under continuous dispatch and checks nothing is lost or called after removal.\n"
      "  ./bazelw run -c opt //tests:soak -- --seconds=600");
  absl::ParseCommandLine(argc, argv);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const int vcpus = absl::GetFlag(FLAGS_vcpus);
  if (!(seconds > 0) || vcpus < 1) {
    std::fprintf(stderr, "soak: --seconds must be positive and --vcpus at least 1\n");
    return 2;
  }
  return dbs::Run(seconds, vcpus);
}
