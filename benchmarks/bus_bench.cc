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
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "benchmarks/internal/baselines.h"
#include "benchmarks/internal/harness.h"
#include "benchmarks/internal/urcu_baselines.h"
#include "bus/io_bus.h"
#include "bus/rcu.h"

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
  bool writer;
  std::string Name() const {
    return absl::StrFormat("%4d ranges, %-8s, %dT%s", ranges, random ? "random" : "repeated",
                           threads, writer ? " + writer" : "");
  }
};

using Runner = std::function<RunResult(const std::vector<BenchRange>&,
                                       const std::vector<uint64_t>&, const RunSpec&)>;

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
  for (int n : {64, 4096}) {
    IoBusDesign design;
    design.Build(RandomRanges(n, 8, uint64_t{1} << 40, devices));
    constexpr int kPublishes = 200;
    const double us = MedianMicros(options.repetitions, [&] {
      for (int i = 0; i < kPublishes; ++i) design.Republish();
    });
    std::printf("  publish one change, %4d ranges:            %8.2f us\n", n,
                us / kPublishes);
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
  std::printf("  nested read section:                         %8.2f ns\n", nested_ns);
}

int Main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      options.quick = true;
      options.repetitions = 1;
      options.lookups = 1 << 16;
    } else if (std::strncmp(argv[i], "--only=", 7) == 0) {
      options.only = argv[i] + 7;
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--only=DESIGN-NAME-PART]\n", argv[0]);
      return 2;
    }
  }
  std::printf("bus_bench: %u CPUs, read sections %s, %d repetitions, %lld lookups per thread\n",
              std::thread::hardware_concurrency(),
              RcuDomain::UsesMembarrier() ? "with membarrier (compiler barrier only)"
                                          : "with seq_cst stores (no membarrier)",
              options.repetitions, static_cast<long long>(options.lookups));

  const std::vector<DesignEntry> designs = Designs();
  std::vector<Case> cases;
  for (int ranges : {64, 4096}) {
    for (bool random : {true, false}) {
      for (int threads : {1, 2}) {
        for (bool writer : {false, true}) cases.push_back(Case{ranges, random, threads, writer});
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
    std::printf("  %-36s", k.Name().c_str());
    for (size_t d = 0; d < designs.size(); ++d) {
      if (k.writer && !designs[d].writer_safe) continue;
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

  // The floor of a writer case is the same case without the writer.
  auto floor_of = [&](size_t c) { return cases[c].writer ? results[c - 1][0] : results[c][0]; };
  std::printf("\nLookup, ns per lookup per thread (ratio to the unprotected btree floor)\n");
  std::printf("%-36s", "case");
  for (const DesignEntry& d : designs) std::printf(" | %-24s", d.name);
  std::printf("\n");
  for (size_t c = 0; c < cases.size(); ++c) {
    std::printf("%-36s", cases[c].Name().c_str());
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
  auto find = [&](int ranges, bool random, int threads, bool writer) {
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
  std::printf("\nIoBus against its targets (random addresses)\n");
  for (int n : {64, 4096}) {
    const size_t one = find(n, true, 1, false);
    const size_t two = find(n, true, 2, false);
    const size_t writer = find(n, true, 1, true);
    const size_t two_writer = find(n, true, 2, true);
    std::printf("  %4d ranges: 1T %s floor; 2T/1T %s; with writer/without %s;"
                " shared_mutex 2T+writer %s slower; shared_ptr 2T+writer %s slower;"
                " vs liburcu qsbr 1T %s\n",
                n, ratio(one, iobus, one, floor).c_str(), ratio(two, iobus, one, iobus).c_str(),
                ratio(writer, iobus, one, iobus).c_str(),
                ratio(two_writer, rwlock, two_writer, iobus).c_str(),
                ratio(two_writer, shared_ptr, two_writer, iobus).c_str(),
                ratio(one, iobus, one, qsbr).c_str());
  }
  // What IoManager adds to a bare lookup: against IoBus calling the same DeviceIo method
  // (the manager's own overhead), and against IoBus calling BenchDevice's one-argument
  // method (which also counts the DeviceIo signature: a span the device writes into).
  std::printf("\nIoManager dispatch / (IoBus lookup + one virtual call)\n");
  for (int n : {64, 4096}) {
    for (bool random : {true, false}) {
      std::printf("  %4d ranges, %-8s:", n, random ? "random" : "repeated");
      for (int threads : {1, 2}) {
        const size_t c = find(n, random, threads, false);
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

int main(int argc, char** argv) { return dbs::bench::Main(argc, argv); }
