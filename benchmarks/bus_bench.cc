// bus_bench: what a range lookup costs through IoBus, against the designs a VMM author would
// otherwise use and against liburcu, then what writers pay: one publication, memory behind a
// stalled reader, batches, grace periods, read sections. A Google Benchmark binary with a
// summary and verdicts at the end.
//
//   ./bazelw run -c opt //benchmarks:bus_bench                 # about 2 minutes
//   ./bazelw run -c opt //benchmarks:bus_bench -- --quick      # a smoke run
//   ./bazelw run -c opt //benchmarks:bus_bench -- --benchmark_filter='^publish/'
//
// Lookups (lookup/MMIO/<ranges>/<random|repeated>/<writer>/<design>/threads:<n>): 8-byte
// ranges at random bases; a lookup finds the range (upper_bound, step back, check) and
// calls a virtual method of its device. One iteration is one lookup; "CPU" is per-thread CPU
// time. The writer republishes every 100 µs (hotplug) or back to back (hotplug_b2b).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "benchmark/benchmark.h"
#include "dbs_device/benchmarks/internal/designs.h"
#include "dbs_device/benchmarks/internal/gbench.h"
#include "dbs_device/benchmarks/internal/lookup_suite.h"
#include "dbs_device/benchmarks/internal/urcu_baselines.h"
#include "dbs_device/bus/io_bus.h"
#include "dbs_device/bus/rcu.h"

namespace dbs::bench {
namespace {

template <typename Design, typename Target>
void Add(const std::string& name, const LookupCase& c) {
  RegisterCase<Design, Target>(name, c);
}

const std::vector<DesignColumn>& Designs() {
  static const std::vector<DesignColumn> designs = {
      {"floor", "floor", "absl::btree_map with no protection (ns; unsafe beside a writer)", false,
       Add<FloorDesign<BenchTarget>, BenchTarget>},
      {"io_bus", "IoBus", "IoBus, this project's bus: the lookup and one virtual call", true,
       Add<IoBusDesign<BenchTarget>, BenchTarget>},
      {"io_bus_deviceio", "+call", "IoBus making IoManager's DeviceIo call instead", true,
       Add<IoBusDesign<DeviceIoTarget>, DeviceIoTarget>},
      {"io_manager", "IoMgr", "IoManager's whole public dispatch (DeviceIo call)", true,
       Add<IoManagerDesign, DeviceIoTarget>},
      {"rwlock_map", "RwLock", "shared_mutex + std::map (the original crate's RwLock)", true,
       Add<RwLockDesign<BenchTarget>, BenchTarget>},
      {"arcswap", "ArcSwap", "atomic<shared_ptr<map>>, whole copies (Dragonball's ArcSwap)", true,
       Add<ArcSwapDesign<BenchTarget>, BenchTarget>},
      {"mutex_btree", "Mutex", "std::mutex + absl::btree_map", true,
       Add<MutexDesign<BenchTarget>, BenchTarget>},
      {"urcu_qsbr", "QSBR", "liburcu QSBR + btree (threads register, report quiescence)", true,
       RegisterUrcuQsbrLookup},
      {"urcu_memb", "memb", "liburcu memb + btree (threads register)", true,
       RegisterUrcuMembLookup},
      {"urcu_bp", "bp", "liburcu bulletproof guarding IoBus's own index (no registration)", true,
       RegisterUrcuBpLookup},
  };
  return designs;
}

std::vector<LookupCase> Cases() {
  std::vector<LookupCase> cases;
  for (int ranges : {64, 4096, 65536}) {
    for (bool random : {true, false}) {
      for (int threads : {1, 2}) {
        for (Writer writer : {Writer::kNone, Writer::kEvery100us, Writer::kBackToBack}) {
          cases.push_back({AddressSpace::kMmio, ranges, random, threads, writer});
        }
      }
    }
  }
  return cases;
}

// --- Writer side ------------------------------------------------------------------------

using Bus = IoBusDesign<BenchTarget>::Bus;

// A bus of `n` 8-byte ranges in `domain`, with the devices it points at.
struct FilledBus {
  FilledBus(int n, RcuDomain& domain)
      : placed(PlaceRandomly<BenchTarget>(AddressSpace::kMmio, n, 8)), bus(domain) {
    Bus::Transaction batch;
    for (const Placement<BenchDevice>& r : placed.ranges) {
      batch.Register(BusRange{r.space, r.base, r.size}, r.device);
    }
    if (!bus.Apply(std::move(batch)).ok()) std::abort();
  }
  PlacedDevices<BenchTarget> placed;
  Bus bus;
};

// Bases are below 2^40: base + 2^41 is free for every range.
constexpr uint64_t kAway = uint64_t{1} << 41;

// One published change: a range moved away or back (a BAR reprogrammed), through the bare
// IoBus, with the bytes the change retired.
void BM_PublishMoveIoBus(benchmark::State& state) {
  RcuDomain domain;
  FilledBus filled(static_cast<int>(state.range(0)), domain);
  const auto& ranges = filled.placed.ranges;
  size_t i = 0;
  const uint64_t retired_before = domain.stats().retired_bytes;
  for (auto _ : state) {
    const Placement<BenchDevice>& r = ranges[(i++ * 7919) % ranges.size()];
    if (!filled.bus.Move({AddressSpace::kMmio, r.base, 8}, r.base + kAway).ok() ||
        !filled.bus.Move({AddressSpace::kMmio, r.base + kAway, 8}, r.base).ok()) {
      state.SkipWithError("move failed");
    }
  }
  state.counters["bytes_retired_per_change"] = benchmark::Counter(
      double(domain.stats().retired_bytes - retired_before) / (2.0 * state.iterations()));
}
BENCHMARK(BM_PublishMoveIoBus)
    ->Name("publish/io_bus_move_and_back")
    ->ArgName("ranges")
    ->Arg(64)
    ->Arg(4096)
    ->Arg(65536)
    ->UseRealTime();

// Two ranges swapped in one transaction (two BARs exchanged): one publication that
// overlaps only on the way, to compare with the two publications of move_and_back.
void BM_PublishSwapIoBus(benchmark::State& state) {
  RcuDomain domain;
  FilledBus filled(static_cast<int>(state.range(0)), domain);
  const auto& ranges = filled.placed.ranges;
  size_t i = 0;
  for (auto _ : state) {
    const uint64_t a = ranges[(i * 7919) % ranges.size()].base;
    const uint64_t b = ranges[(i * 7919 + 1) % ranges.size()].base;
    ++i;
    Bus::Transaction swap;
    swap.Move({AddressSpace::kMmio, a, 8}, b).Move({AddressSpace::kMmio, b, 8}, a);
    if (!filled.bus.Apply(std::move(swap)).ok()) state.SkipWithError("swap failed");
  }
}
BENCHMARK(BM_PublishSwapIoBus)
    ->Name("publish/io_bus_swap")
    ->ArgName("ranges")
    ->Arg(64)
    ->Arg(4096)
    ->Arg(65536)
    ->UseRealTime();

// The same through IoManager::MoveDeviceIo.
void BM_PublishMoveIoManager(benchmark::State& state) {
  const PlacedDevices<DeviceIoTarget> placed =
      PlaceRandomly<DeviceIoTarget>(AddressSpace::kMmio, state.range(0), 8);
  IoManagerDesign design;
  design.Build(placed.ranges);
  size_t i = 0;
  for (auto _ : state) {
    const Placement<DeviceIo>& r = placed.ranges[(i++ * 7919) % placed.ranges.size()];
    if (!design.io().MoveDeviceIo(MmioRange{r.base, 8}, r.base + kAway).ok() ||
        !design.io().MoveDeviceIo(MmioRange{r.base + kAway, 8}, r.base).ok()) {
      state.SkipWithError("move failed");
    }
  }
}
BENCHMARK(BM_PublishMoveIoManager)
    ->Name("publish/io_manager_move_and_back")
    ->ArgName("ranges")
    ->Arg(64)
    ->Arg(4096)
    ->Arg(65536)
    ->UseRealTime();

// A reader stalled inside a read section (a vCPU blocked in a handler) while `changes`
// changes are published: the bytes the domain holds per publication behind it.
void BM_StalledReader(benchmark::State& state) {
  const int changes = static_cast<int>(state.range(1));
  double retained_per_change = 0, most_kib = 0;
  for (auto _ : state) {
    RcuDomain domain;
    FilledBus filled(static_cast<int>(state.range(0)), domain);
    const auto& ranges = filled.placed.ranges;
    std::atomic<bool> inside{false}, release{false};
    std::thread stalled([&] {
      ReadSection section;
      (void)filled.bus.Current(section).Find(AddressSpace::kMmio, ranges[0].base, 1);
      inside = true;
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    while (!inside) std::this_thread::yield();
    domain.Poll();
    const size_t held_before = domain.pending_bytes();
    size_t most = held_before;
    for (int i = 0; i < changes; ++i) {
      // Each range away on the first pass, back on the second, ...
      const Placement<BenchDevice>& r = ranges[i % ranges.size()];
      const bool away = (i / ranges.size()) % 2 == 0;
      const uint64_t from = away ? r.base : r.base + kAway;
      if (!filled.bus.Move({AddressSpace::kMmio, from, 8}, away ? from + kAway : r.base).ok()) {
        state.SkipWithError("move failed");
      }
      if (i % 256 == 0) most = std::max(most, domain.pending_bytes());
    }
    domain.Poll();
    retained_per_change = (double(domain.pending_bytes()) - double(held_before)) / changes;
    most_kib = double(most) / 1024;
    release = true;
    stalled.join();
  }
  state.counters["retained_bytes_per_publication"] = retained_per_change;
  state.counters["most_held_KiB"] = most_kib;
}
BENCHMARK(BM_StalledReader)
    ->Name("stalled_reader")
    ->ArgNames({"ranges", "publications"})
    ->Args({64, 20000})
    ->Args({4096, 20000})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// 1000 insertions into a bus holding 64 ranges: one batch, or one publication each.
void BM_Inserts(benchmark::State& state) {
  const bool as_batch = state.range(0) != 0;
  const PlacedDevices<BenchTarget> base = PlaceRandomly<BenchTarget>(AddressSpace::kMmio, 64, 8);
  for (auto _ : state) {
    state.PauseTiming();
    auto design = std::make_unique<IoBusDesign<BenchTarget>>();
    design->Build(base.ranges);
    BenchDevice* device = base.devices[0].get();
    state.ResumeTiming();
    auto range = [](int i) {
      return BusRange{AddressSpace::kMmio, kAway + uint64_t(i) * 0x1000, 0x1000};
    };
    if (as_batch) {
      Bus::Transaction batch;
      for (int i = 0; i < 1000; ++i) batch.Register(range(i), device);
      if (!design->bus().Apply(std::move(batch)).ok()) state.SkipWithError("apply failed");
    } else {
      for (int i = 0; i < 1000; ++i) {
        if (!design->bus().Register(range(i), device).ok()) state.SkipWithError("insert failed");
      }
    }
    state.PauseTiming();
    design.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_Inserts)
    ->Name("insert_1000")
    ->ArgName("as_one_batch")
    ->Arg(1)
    ->Arg(0)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_SynchronizeIdle(benchmark::State& state) {
  for (auto _ : state) (void)RcuDomain::Default().Synchronize();
}
BENCHMARK(BM_SynchronizeIdle)->Name("synchronize/no_reader")->UseRealTime();

void BM_SynchronizeBusy(benchmark::State& state) {
  IoBusDesign<BenchTarget> design;
  const PlacedDevices<BenchTarget> placed = PlaceRandomly<BenchTarget>(AddressSpace::kMmio, 64, 8);
  design.Build(placed.ranges);
  const std::vector<uint64_t> addresses = AddressStream(placed.ranges, true);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    uint64_t sum = 0;
    size_t i = 0;
    while (!stop.load(std::memory_order_relaxed)) sum += design.Lookup(addresses[i++ & 0xffff]);
    benchmark::DoNotOptimize(sum);
  });
  for (auto _ : state) (void)RcuDomain::Default().Synchronize();
  stop = true;
  reader.join();
}
BENCHMARK(BM_SynchronizeBusy)->Name("synchronize/reader_looking_up")->UseRealTime();

void BM_ReadSection(benchmark::State& state) {
  for (auto _ : state) {
    ReadSection section;
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ReadSection)->Name("read_section/empty");

void BM_NestedReadSection(benchmark::State& state) {
  ReadSection outer;
  for (auto _ : state) {
    ReadSection nested;
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_NestedReadSection)->Name("read_section/nested");

BENCHMARK(UrcuBpEmptySections)->Name("read_section/urcu_bp_empty");

// --- Summary ----------------------------------------------------------------------------

// `value` with `decimals` decimals, or "-" for a benchmark that did not run (filtered out).
std::string Shown(double value, int decimals) {
  return value < 0 ? "-" : absl::StrFormat("%.*f", decimals, value);
}

void PrintSummary(const CollectingReporter& results, const SuiteOptions& options) {
  const std::vector<DesignColumn>& designs = Designs();
  std::printf("\nLookup: ns per lookup, per-thread CPU time, median. Lower is better.\n\n");
  PrintRatioTable("lookup", Cases(), designs, results);

  // Columns: 0 floor, 1 IoBus, 9 liburcu bp.
  auto ns = [&](int ranges, bool random, int threads, Writer writer, int column) {
    return results.NsOf(ResultName("lookup",
                                   LookupCase{AddressSpace::kMmio, ranges, random, threads, writer},
                                   designs[column]));
  };
  auto real = [&](const std::string& prefix) {
    const Measured* m = results.Find(prefix);
    return m == nullptr ? -1.0 : m->real_ns;
  };
  auto counter = [&](const std::string& prefix, const char* key) {
    const Measured* m = results.Find(prefix);
    if (m == nullptr || !m->counters.contains(key)) return -1.0;
    return m->counters.at(key);
  };
  const int sizes[] = {64, 4096, 65536};
  std::printf("\nWriter side, wall time, median. Lower is better.\n");
  std::printf("  %-46s %9s %9s %9s\n", "ranges", "64", "4,096", "65,536");
  double publish_us[2][3];
  const char* publishers[] = {"io_bus", "io_manager"};
  for (int p = 0; p < 2; ++p) {
    std::printf("  %-46s",
                absl::StrFormat("one published change through %s, us", publishers[p]).c_str());
    for (int i = 0; i < 3; ++i) {
      // Two changes per iteration: a move away and back. real_ns is in ns.
      const double ns =
          real(absl::StrFormat("publish/%s_move_and_back/ranges:%d/", publishers[p], sizes[i]));
      publish_us[p][i] = ns < 0 ? -1 : ns / 2e3;
      std::printf(" %9s", Shown(publish_us[p][i], 2).c_str());
    }
    std::printf("\n");
  }
  double swap_ratio[3];
  std::printf("  %-46s", "a swap of two ranges in one transaction, us");
  for (int i = 0; i < 3; ++i) {
    const double ns = real(absl::StrFormat("publish/io_bus_swap/ranges:%d/", sizes[i]));
    swap_ratio[i] = ns > 0 && publish_us[0][i] > 0 ? ns / 1e3 / (2 * publish_us[0][i]) : -1;
    std::printf(" %9s", Shown(ns < 0 ? -1 : ns / 1e3, 2).c_str());
  }
  std::printf("\n");
  std::printf("  %-46s", "bytes retired per change");
  for (int n : sizes) {
    std::printf(" %9s", Shown(counter(absl::StrFormat("publish/io_bus_move_and_back/ranges:%d/", n),
                                      "bytes_retired_per_change"),
                              0)
                            .c_str());
  }
  const double retained[] = {
      counter("stalled_reader/ranges:64/", "retained_bytes_per_publication"),
      counter("stalled_reader/ranges:4096/", "retained_bytes_per_publication")};
  std::printf("\n  %-46s %9s %9s\n", "behind a stalled reader, bytes kept per change",
              Shown(retained[0], 1).c_str(), Shown(retained[1], 1).c_str());
  const double batch_us = real("insert_1000/as_one_batch:1/"),
               single_us = real("insert_1000/as_one_batch:0/");
  auto us = [&](const char* prefix) {
    const double ns = real(prefix);
    return Shown(ns < 0 ? -1 : ns / 1e3, 2);
  };
  std::printf("  1,000 insertions: as one batch %s us, one by one %s us (%sx)\n",
              Shown(batch_us, 1).c_str(), Shown(single_us, 1).c_str(),
              Shown(batch_us > 0 && single_us > 0 ? single_us / batch_us : -1, 1).c_str());
  std::printf("  Synchronize: no reader %s us, a reader looking up %s us\n",
              us("synchronize/no_reader/").c_str(), us("synchronize/reader_looking_up/").c_str());
  std::printf("  read section: empty %s ns, nested %s ns; liburcu-bp's empty %s ns\n",
              Shown(results.NsOf("read_section/empty"), 2).c_str(),
              Shown(results.NsOf("read_section/nested"), 2).c_str(),
              Shown(results.NsOf("read_section/urcu_bp_empty"), 2).c_str());

  if (options.quick) {
    std::printf("\nA smoke run (--quick): too short to be read as a result; no verdicts.\n");
    return;
  }
  std::printf(
      "\nVerdicts (the write side's targets; lookups are IoBus, random addresses, "
      "1 thread):\n");
  if (publish_us[1][0] > 0 && publish_us[1][2] > 0) {
    PrintVerdict(
        publish_us[1][2] <= 2 && publish_us[1][2] <= 4 * publish_us[1][0],
        "one change at 65,536 ranges at most 2 us and 4x the cost at 64",
        absl::StrFormat("%.2f us, %.1fx", publish_us[1][2], publish_us[1][2] / publish_us[1][0]));
  }
  if (swap_ratio[1] > 0) {
    PrintVerdict(swap_ratio[1] <= 1.2, "a swap costs about what two moves cost (at most 1.2x)",
                 absl::StrFormat("%.2fx at 4,096", swap_ratio[1]));
  }
  auto slowdown = [&](int ranges, Writer writer) {
    return ns(ranges, true, 1, writer, 1) / ns(ranges, true, 1, Writer::kNone, 1);
  };
  if (ns(65536, true, 1, Writer::kBackToBack, 1) > 0) {
    PrintVerdict(slowdown(65536, Writer::kBackToBack) <= 1.5,
                 "a writer back to back slows a reader at most 1.5x at 65,536",
                 absl::StrFormat("%.2fx", slowdown(65536, Writer::kBackToBack)));
  }
  if (ns(4096, true, 1, Writer::kEvery100us, 1) > 0) {
    PrintVerdict(slowdown(4096, Writer::kEvery100us) <= 1.05,
                 "a writer every 100 us slows a reader at most 1.05x at 4,096",
                 absl::StrFormat("%.2fx", slowdown(4096, Writer::kEvery100us)));
  }
  for (int n : sizes) {
    const double limit = n == 65536 ? 0.7 : 0.5;
    const double floor = ns(n, true, 1, Writer::kNone, 0),
                 io_bus = ns(n, true, 1, Writer::kNone, 1);
    if (floor <= 0 || io_bus <= 0) continue;
    PrintVerdict(io_bus / floor <= limit,
                 absl::StrFormat("lookups at most %.1fx the floor at %d ranges", limit, n),
                 absl::StrFormat("%.2fx", io_bus / floor));
  }
  if (retained[1] >= 0) {
    PrintVerdict(retained[1] <= 4096, "behind a stalled reader, at most 4 KiB per change at 4,096",
                 absl::StrFormat("%.1f bytes", retained[1]));
  }
  if (batch_us > 0 && single_us > 0) {
    PrintVerdict(single_us / batch_us >= 20,
                 "a batch of 1,000 at least 20x cheaper than 1,000 "
                 "single changes",
                 absl::StrFormat("%.1fx", single_us / batch_us));
  }
  std::vector<double> bp_to_ours;
  for (const LookupCase& c : Cases()) {
    const double ours = results.NsOf(ResultName("lookup", c, designs[1]));
    const double bp = results.NsOf(ResultName("lookup", c, designs[9]));
    if (ours > 0 && bp > 0) bp_to_ours.push_back(bp / ours);
  }
  if (!bp_to_ours.empty()) {
    PrintVerdict(Median(bp_to_ours) >= 1.0,
                 "our read section beats liburcu-bp's on one index (median bp / ours)",
                 absl::StrFormat("%.2fx over %zu cases", Median(bp_to_ours), bp_to_ours.size()));
  }
}

}  // namespace
}  // namespace dbs::bench

int main(int argc, char** argv) {
  using namespace dbs::bench;
  const SuiteOptions options = ParseSuiteFlags(
      &argc, argv,
      "bus_bench: range lookups through IoBus and IoManager against the peers' designs and "
      "liburcu,\nthen what writers pay, then a summary with verdicts.\n"
      "  ./bazelw run -c opt //benchmarks:bus_bench [-- --quick] [-- --benchmark_filter=...]",
      /*repetitions=*/3, /*min_time=*/0.05);
  RegisterSuite("lookup", Cases(), Designs());
  PrintSummary(*RunBenchmarks(), options);
  benchmark::Shutdown();
  return 0;
}
