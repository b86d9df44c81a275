// bus_bench: what a range lookup costs through IoBus, against the designs a VMM author would
// otherwise use, measured in one run on this machine; then what writers pay.
//
//   ./bazelw run -c opt //benchmarks:bus_bench             # about a minute
//   ./bazelw run -c opt //benchmarks:bus_bench -- --quick  # a few seconds (CI smoke test)
//
// Lookups: 8-byte ranges at random bases; each lookup finds the range (upper_bound, step
// back, check) and calls a virtual method of its device. Per-thread CPU time per lookup,
// median of the repetitions; ratios are to the unprotected absl::btree_map with the same
// ranges, address pattern and thread count, measured in the same run.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "dbs_device/benchmarks/internal/baselines.h"
#include "dbs_device/benchmarks/internal/harness.h"
#include "dbs_device/benchmarks/internal/urcu_baselines.h"
#include "dbs_device/bus/io_bus.h"
#include "dbs_device/bus/rcu.h"

ABSL_FLAG(bool, quick, false, "a smoke run: one repetition of fewer lookups");
ABSL_FLAG(std::string, only, "", "run only the designs whose name contains this text");

namespace dbs::bench {
namespace {

struct Options {
  bool quick = false;
  std::string only;  // run only designs whose name contains this (and the floor)
  int repetitions = 5;
  int64_t lookups = 1 << 20;
};

struct Case {
  int ranges;
  bool random;
  int threads;
  Writer writer;
  std::string Name() const {
    return absl::StrFormat("%5d ranges, %-8s, %dT%s", ranges, random ? "random" : "repeated",
                           threads, WriterSuffix(writer));
  }
};

using Runner = std::function<RunResult(const std::vector<BenchRange>&, const std::vector<uint64_t>&,
                                       const RunSpec&)>;

template <typename Design>
Runner RunnerFor() {
  return [](const std::vector<BenchRange>& ranges, const std::vector<uint64_t>& addresses,
            const RunSpec& spec) {
    Design design;
    design.Build(ranges);
    return RunLookups(design, addresses, spec);
  };
}

struct DesignEntry {
  const char* name;
  bool writer_safe;
  Runner run;
};

std::vector<DesignEntry> Designs() {
  return {
      {UnprotectedBtree::kName, false, RunnerFor<UnprotectedBtree>()},
      {IoBusDesign::kName, true, RunnerFor<IoBusDesign>()},
      {IoBusDeviceIoDesign::kName, true, RunnerFor<IoBusDeviceIoDesign>()},
      {IoManagerDesign::kName, true, RunnerFor<IoManagerDesign>()},
      {IoManagerStatsDesign::kName, true, RunnerFor<IoManagerStatsDesign>()},
      {RwLockMap::kName, true, RunnerFor<RwLockMap>()},
      {SharedPtrSwap::kName, true, RunnerFor<SharedPtrSwap>()},
      {MutexMap::kName, true, RunnerFor<MutexMap>()},
      {kUrcuQsbrName, true, RunUrcuQsbr},
      {kUrcuMembName, true, RunUrcuMemb},
      {kUrcuBpName, true, RunUrcuBp},
  };
}

double MedianNs(const DesignEntry& design, const std::vector<BenchRange>& ranges,
                const std::vector<uint64_t>& addresses, const RunSpec& spec, int repetitions) {
  std::vector<double> samples;
  for (int r = 0; r < repetitions; ++r) {
    samples.push_back(design.run(ranges, addresses, spec).ns_per_lookup);
  }
  return Median(samples);
}

// --- Writer-side costs ------------------------------------------------------------------

// The median wall time of `body()` in µs.
template <typename F>
double MedianMicros(int repetitions, F&& body) {
  return MedianOf(repetitions, [&] {
    const auto start = std::chrono::steady_clock::now();
    body();
    return MicrosSince(start);
  });
}

void WriterCosts(const Options& options) {
  std::printf("\nWriter side (wall time, median of %d)\n", options.repetitions);
  std::vector<std::unique_ptr<BenchDevice>> devices;
  // One published change: a range moved and moved back (a BAR reprogrammed), through the
  // bare IoBus and through IoManager, at each size.
  std::printf("  one published change (a move), wall time per change, and what it retires:\n");
  double at_64_bus = 0, at_64_manager = 0;
  for (int n : {64, 4096, 65536}) {
    auto ranges = RandomRanges(n, 8, uint64_t{1} << 40, devices);
    RcuDomain domain;
    IoBus<BenchDevice*> bus(domain);
    {
      IoBus<BenchDevice*>::Batch batch;
      for (const BenchRange& r : ranges)
        batch.Insert({AddressSpace::kMmio, r.base, r.size}, r.device);
      if (!bus.Apply(std::move(batch)).ok()) std::abort();
    }
    IoManagerDesign manager;
    manager.Build(ranges);
    const int kMoves = options.quick ? 200 : 4000;
    std::mt19937_64 rng(7);
    std::vector<const BenchRange*> moved;
    for (int i = 0; i < kMoves / 2; ++i) moved.push_back(&ranges[rng() % ranges.size()]);
    // Bases are below 2^40: base + 2^41 is free for every range.
    constexpr uint64_t kAway = uint64_t{1} << 41;
    const uint64_t retired_before = domain.stats().retired_bytes;
    const double bus_us =
        MedianMicros(options.repetitions,
                     [&] {
                       for (const BenchRange* r : moved) {
                         if (!bus.Move({AddressSpace::kMmio, r->base, 8}, r->base + kAway).ok())
                           std::abort();
                         if (!bus.Move({AddressSpace::kMmio, r->base + kAway, 8}, r->base).ok())
                           std::abort();
                       }
                     }) /
        kMoves;
    const double bytes_per_change =
        double(domain.stats().retired_bytes - retired_before) / (kMoves * options.repetitions);
    const double manager_us =
        MedianMicros(
            options.repetitions,
            [&] {
              for (const BenchRange* r : moved) {
                if (!manager.io().MoveDeviceIo(MmioRange{r->base, 8}, r->base + kAway).ok()) {
                  std::abort();
                }
                if (!manager.io().MoveDeviceIo(MmioRange{r->base + kAway, 8}, r->base).ok()) {
                  std::abort();
                }
              }
            }) /
        kMoves;
    if (n == 64) {
      at_64_bus = bus_us;
      at_64_manager = manager_us;
    }
    std::printf(
        "    %5d ranges: IoBus::Move %6.2f us (%4.1fx the 64-range cost), "
        "IoManager::MoveDeviceIo %6.2f us (%4.1fx); %5.0f bytes retired per change\n",
        n, bus_us, bus_us / at_64_bus, manager_us, manager_us / at_64_manager, bytes_per_change);
  }

  // A reader stalled inside a read section (a vCPU blocked in a handler) while changes
  // are published: what the domain holds per publication behind it.
  std::printf("  behind a reader stalled in a read section, per published change:\n");
  for (int n : {64, 4096}) {
    auto ranges = RandomRanges(n, 8, uint64_t{1} << 40, devices);
    RcuDomain domain;
    IoBus<BenchDevice*> bus(domain);
    {
      IoBus<BenchDevice*>::Batch batch;
      for (const BenchRange& r : ranges)
        batch.Insert({AddressSpace::kMmio, r.base, r.size}, r.device);
      if (!bus.Apply(std::move(batch)).ok()) std::abort();
    }
    std::atomic<bool> inside{false}, release{false};
    std::thread stalled([&] {
      ReadSection section;
      (void)bus.snapshot(section).Find(AddressSpace::kMmio, ranges[0].base, 1);
      inside = true;
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    while (!inside) std::this_thread::yield();
    const int kChanges = options.quick ? 2000 : 20000;
    domain.Poll();
    const size_t held_before = domain.pending_bytes();
    const uint64_t retired_before = domain.stats().retired_bytes;
    size_t most = held_before;
    for (int i = 0; i < kChanges; ++i) {
      // Each range away (above every base) on the first pass, back on the second, ...
      const BenchRange& r = ranges[i % ranges.size()];
      const bool away = (i / ranges.size()) % 2 == 0;
      const uint64_t from = away ? r.base : r.base + (uint64_t{1} << 41);
      const uint64_t to = away ? r.base + (uint64_t{1} << 41) : r.base;
      if (!bus.Move({AddressSpace::kMmio, from, 8}, to).ok()) std::abort();
      if (i % 256 == 0) most = std::max(most, domain.pending_bytes());
    }
    domain.Poll();
    const size_t held_after = domain.pending_bytes();
    const double retired = double(domain.stats().retired_bytes - retired_before) / kChanges;
    release = true;
    stalled.join();
    std::printf(
        "    %5d ranges: %7.1f bytes retained per publication after %d "
        "(%.0f bytes retired each; at most %zu KiB held at once)\n",
        n, (double(held_after) - double(held_before)) / kChanges, kChanges, retired, most >> 10);
  }

  // 1000 insertions into a bus holding 64 ranges: one batch against 1000 single inserts.
  auto base_ranges = RandomRanges(64, 8, uint64_t{1} << 40, devices);
  auto insert_range = [](int i) {
    return BusRange{AddressSpace::kMmio, (uint64_t{1} << 41) + uint64_t(i) * 0x1000, 0x1000};
  };
  // Buses are built before and destroyed after the timed part.
  auto time_inserts = [&](bool as_batch) {
    std::vector<double> samples;
    for (int r = 0; r < options.repetitions; ++r) {
      IoBusDesign design;
      design.Build(base_ranges);
      const auto start = std::chrono::steady_clock::now();
      if (as_batch) {
        IoBus<BenchDevice*>::Batch batch;
        for (int i = 0; i < 1000; ++i) batch.Insert(insert_range(i), devices[0].get());
        if (!design.bus().Apply(std::move(batch)).ok()) std::abort();
      } else {
        for (int i = 0; i < 1000; ++i) {
          if (!design.bus().Insert(insert_range(i), devices[0].get()).ok()) std::abort();
        }
      }
      samples.push_back(MicrosSince(start));
    }
    return Median(samples);
  };
  const double batch_us = time_inserts(true);
  const double single_us = time_inserts(false);
  std::printf("  1000 insertions as one batch:                %8.1f us\n", batch_us);
  std::printf("  1000 insertions one by one:                  %8.1f us  (batch %.0fx cheaper)\n",
              single_us, single_us / batch_us);

  RcuDomain& domain = RcuDomain::Default();
  constexpr int kSyncs = 100;
  const double idle_us = MedianMicros(options.repetitions, [&] {
    for (int i = 0; i < kSyncs; ++i) (void)domain.Synchronize();
  });
  std::printf("  Synchronize, no reader inside a section:     %8.2f us\n", idle_us / kSyncs);
  {
    IoBusDesign design;
    design.Build(base_ranges);
    auto addresses = AddressStream(base_ranges, true);
    std::atomic<bool> stop{false};
    std::thread reader([&] {
      uint64_t sum = 0;
      size_t i = 0;
      while (!stop.load(std::memory_order_relaxed)) sum += design.Lookup(addresses[i++ & 0xffff]);
      if (sum == 42) std::printf(" ");
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const double busy_us = MedianMicros(options.repetitions, [&] {
      for (int i = 0; i < kSyncs; ++i) (void)domain.Synchronize();
    });
    stop = true;
    reader.join();
    std::printf("  Synchronize, a reader looking up non-stop:   %8.2f us\n", busy_us / kSyncs);
  }

  constexpr int kSections = 10000000;
  int64_t start = ThreadCpuNanos();
  for (int i = 0; i < kSections; ++i) {
    ReadSection section;
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  const double section_ns = double(ThreadCpuNanos() - start) / kSections;
  start = ThreadCpuNanos();
  {
    ReadSection outer;
    for (int i = 0; i < kSections; ++i) {
      ReadSection nested;
      std::atomic_signal_fence(std::memory_order_seq_cst);
    }
  }
  const double nested_ns = double(ThreadCpuNanos() - start) / kSections;
  std::printf("  empty read section (enter + leave):          %8.2f ns\n", section_ns);
  std::printf("  empty liburcu-bp read section, the same way:  %8.2f ns\n",
              UrcuBpEmptySectionNs(kSections));
  std::printf("  nested read section:                         %8.2f ns\n", nested_ns);
}

int Main() {
  Options options;
  if (absl::GetFlag(FLAGS_quick)) {
    options.quick = true;
    options.repetitions = 1;
    options.lookups = 1 << 16;
  }
  options.only = absl::GetFlag(FLAGS_only);
  std::printf("bus_bench: %u CPUs, read sections %s, %d repetitions, %lld lookups per thread\n",
              std::thread::hardware_concurrency(),
              RcuDomain::UsesMembarrier() ? "with membarrier (compiler barrier only)"
                                          : "with seq_cst stores (no membarrier)",
              options.repetitions, static_cast<long long>(options.lookups));

  const std::vector<DesignEntry> designs = Designs();
  std::vector<Case> cases;
  for (int ranges : {64, 4096, 65536}) {
    for (bool random : {true, false}) {
      for (int threads : {1, 2}) {
        for (Writer writer : {Writer::kNone, Writer::kEvery100us, Writer::kBackToBack}) {
          cases.push_back(Case{ranges, random, threads, writer});
        }
      }
    }
  }

  // results[case][design], ns per lookup; floor_ns[case] is the floor without a writer.
  std::vector<std::vector<double>> results(cases.size(), std::vector<double>(designs.size(), -1));
  std::vector<std::unique_ptr<BenchDevice>> devices;
  for (size_t c = 0; c < cases.size(); ++c) {
    const Case& k = cases[c];
    auto ranges = RandomRanges(k.ranges, 8, uint64_t{1} << 40, devices);
    auto addresses = AddressStream(ranges, k.random);
    RunSpec spec{k.threads, k.writer, options.lookups};
    std::printf("  %-40s", k.Name().c_str());
    for (size_t d = 0; d < designs.size(); ++d) {
      if (k.writer != Writer::kNone && !designs[d].writer_safe) continue;
      if (d != 0 && !options.only.empty() &&
          std::string(designs[d].name).find(options.only) == std::string::npos) {
        continue;
      }
      results[c][d] = MedianNs(designs[d], ranges, addresses, spec, options.repetitions);
      std::printf(" %7.1f", results[c][d]);
      std::fflush(stdout);
    }
    std::printf("\n");
  }

  // The floor of a writer case is the same case without the writer (listed just before).
  auto without_writer = [&](size_t c) { return c - static_cast<size_t>(cases[c].writer); };
  auto floor_of = [&](size_t c) { return results[without_writer(c)][0]; };
  std::printf("\nLookup, ns per lookup per thread (ratio to the unprotected btree floor)\n");
  std::printf("%-40s", "case");
  for (const DesignEntry& d : designs) std::printf(" | %-24s", d.name);
  std::printf("\n");
  for (size_t c = 0; c < cases.size(); ++c) {
    std::printf("%-40s", cases[c].Name().c_str());
    for (size_t d = 0; d < designs.size(); ++d) {
      if (results[c][d] < 0) {
        std::printf(" | %-24s", "-");
      } else {
        std::printf(" | %8.1f ns (%5.2fx)     ", results[c][d], results[c][d] / floor_of(c));
      }
    }
    std::printf("\n");
  }

  // The targets of the design, read off the table ("n/a" where --only skipped a column).
  auto column = [&](const char* name) { return ColumnOf(designs, name); };
  auto find = [&](int ranges, bool random, int threads, Writer writer) {
    for (size_t c = 0; c < cases.size(); ++c) {
      const Case& k = cases[c];
      if (k.ranges == ranges && k.random == random && k.threads == threads && k.writer == writer)
        return c;
    }
    std::abort();
  };
  // results[c1][d1] / results[c2][d2], formatted.
  auto ratio = [&](size_t c1, size_t d1, size_t c2, size_t d2) {
    if (results[c1][d1] < 0 || results[c2][d2] < 0) return std::string("n/a");
    return absl::StrFormat("%.2fx", results[c1][d1] / results[c2][d2]);
  };
  const size_t floor = 0;
  const size_t iobus = column(IoBusDesign::kName);
  const size_t iobus_deviceio = column(IoBusDeviceIoDesign::kName);
  const size_t manager = column(IoManagerDesign::kName);
  const size_t manager_stats = column(IoManagerStatsDesign::kName);
  const size_t rwlock = column(RwLockMap::kName);
  const size_t shared_ptr = column(SharedPtrSwap::kName);
  const size_t qsbr = column(kUrcuQsbrName);
  const size_t urcu_bp = column(kUrcuBpName);
  std::printf("\nIoBus against its targets (random addresses)\n");
  for (int n : {64, 4096, 65536}) {
    const size_t one = find(n, true, 1, Writer::kNone);
    const size_t two = find(n, true, 2, Writer::kNone);
    const size_t writer = find(n, true, 1, Writer::kEvery100us);
    const size_t b2b = find(n, true, 1, Writer::kBackToBack);
    const size_t two_writer = find(n, true, 2, Writer::kEvery100us);
    std::printf(
        "  %5d ranges: 1T %s floor; 2T/1T %s; with writer/without %s, back-to-back "
        "writer/without %s (IoManager %s, %s); shared_mutex 2T+writer %s slower; "
        "shared_ptr 2T+writer %s slower; vs liburcu qsbr 1T %s\n",
        n, ratio(one, iobus, one, floor).c_str(), ratio(two, iobus, one, iobus).c_str(),
        ratio(writer, iobus, one, iobus).c_str(), ratio(b2b, iobus, one, iobus).c_str(),
        ratio(writer, manager, one, manager).c_str(), ratio(b2b, manager, one, manager).c_str(),
        ratio(two_writer, rwlock, two_writer, iobus).c_str(),
        ratio(two_writer, shared_ptr, two_writer, iobus).c_str(),
        ratio(one, iobus, one, qsbr).c_str());
  }
  // The RCU itself: liburcu's bulletproof flavour guarding the very same index, over every
  // case both ran (single cases are noisy; the median is the figure to quote).
  {
    std::vector<double> bp_over_ours;
    for (size_t c = 0; c < cases.size(); ++c) {
      if (results[c][urcu_bp] > 0 && results[c][iobus] > 0) {
        bp_over_ours.push_back(results[c][urcu_bp] / results[c][iobus]);
      }
    }
    if (!bp_over_ours.empty()) {
      std::printf(
          "  liburcu-bp on IoBus's own index / IoBus: median %.2fx, min %.2fx, max %.2fx "
          "over %zu cases\n",
          Median(bp_over_ours), *std::min_element(bp_over_ours.begin(), bp_over_ours.end()),
          *std::max_element(bp_over_ours.begin(), bp_over_ours.end()), bp_over_ours.size());
    }
  }
  // What IoManager adds to a bare lookup: against IoBus calling the same DeviceIo method
  // (the manager's own overhead), and against IoBus calling BenchDevice's one-argument
  // method (which also counts the DeviceIo signature: a span the device writes into).
  std::printf("\nIoManager dispatch / (IoBus lookup + one virtual call)\n");
  for (int n : {64, 4096, 65536}) {
    for (bool random : {true, false}) {
      std::printf("  %5d ranges, %-8s:", n, random ? "random" : "repeated");
      for (int threads : {1, 2}) {
        const size_t c = find(n, random, threads, Writer::kNone);
        std::printf("  %dT: same DeviceIo call %s (with statistics %s), BenchDevice call %s;",
                    threads, ratio(c, manager, c, iobus_deviceio).c_str(),
                    ratio(c, manager_stats, c, iobus_deviceio).c_str(),
                    ratio(c, manager, c, iobus).c_str());
      }
      std::printf("\n");
    }
  }

  WriterCosts(options);
  return 0;
}

}  // namespace
}  // namespace dbs::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Lookups, publication and reclamation of the bus against liburcu and lock designs.\n"
      "  ./bazelw run -c opt //benchmarks:bus_bench [-- --quick] [-- --only=NAME-PART]");
  absl::ParseCommandLine(argc, argv);
  return dbs::bench::Main();
}
