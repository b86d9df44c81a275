// allocator_bench: what allocating a range costs as the space fragments. IntervalAllocator
// (a treap with per-alignment-class capacity summaries, O(log n)) against a first-fit linear
// scan over a sorted free list (the design of rust-vmm's and several VMMs' allocators), and a
// whole device's allocation through ResourceManager; a summary with verdicts at the end.
//
//   ./bazelw run -c opt //benchmarks:allocator_bench
//
// Fragmented: the space holds n live 4 KiB ranges at an 8 KiB stride, so n free 4 KiB gaps
// lie between them. Each iteration allocates a range that fits no gap (8 KiB, 8 KiB aligned)
// and frees it: first fit must find the free tail after every gap. A second case asks for a
// 4 KiB range at 4 KiB alignment with last-match policy among the gaps. Mixed: n live
// ranges drawn as a VMM draws them (ports, 4 KiB MMIO, BARs aligned to their size, 2 MiB
// and 1 GiB memory); each iteration frees one at random and allocates the next.

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "benchmark/benchmark.h"
#include "dbs_device/benchmarks/internal/gbench.h"
#include "dbs_device/resources/allocator.h"
#include "dbs_device/resources/resource_manager.h"

namespace dbs {
namespace {

constexpr uint64_t kChunk = 0x1000;
constexpr uint64_t kSpaceEnd = (uint64_t{1} << 40) - 1;
constexpr uint64_t kMixedEnd = (uint64_t{1} << 48) - 1;  // room for 100,000 mixed requests

// The baseline: a sorted free list searched from the start.
class LinearScanAllocator {
 public:
  explicit LinearScanAllocator(InclusiveRange window) { free_[window.min] = window.max; }

  std::optional<InclusiveRange> Allocate(uint64_t size, uint64_t align) {
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      const uint64_t start = (it->first + align - 1) & ~(align - 1);
      if (start < it->first || start > it->second || it->second - start < size - 1) continue;
      const InclusiveRange got{start, start + size - 1};
      const uint64_t free_start = it->first;
      const uint64_t free_end = it->second;
      free_.erase(it);
      if (free_start < got.min) free_[free_start] = got.min - 1;
      if (got.max < free_end) free_[got.max + 1] = free_end;
      return got;
    }
    return std::nullopt;
  }

  void Free(InclusiveRange r) {
    auto next = free_.upper_bound(r.min);
    if (next != free_.end() && next->first == r.max + 1) {
      r.max = next->second;
      next = free_.erase(next);
    }
    if (next != free_.begin()) {
      auto prev = std::prev(next);
      if (prev->second + 1 == r.min) {
        r.min = prev->first;
        free_.erase(prev);
      }
    }
    free_[r.min] = r.max;
  }

 private:
  std::map<uint64_t, uint64_t> free_;
};

template <typename Allocator>
void Fragment(Allocator& allocator, int64_t live);

template <>
void Fragment(IntervalAllocator& allocator, int64_t live) {
  for (int64_t i = 0; i < live; ++i) {
    const uint64_t base = static_cast<uint64_t>(i) * 2 * kChunk;
    if (!allocator.Reserve(InclusiveRange{base, base + kChunk - 1}).ok()) std::abort();
  }
}

template <>
void Fragment(LinearScanAllocator& allocator, int64_t live) {
  // Allocate every chunk, then free every other one.
  std::vector<InclusiveRange> all;
  for (int64_t i = 0; i < 2 * live; ++i) all.push_back(*allocator.Allocate(kChunk, 1));
  for (int64_t i = 1; i < 2 * live; i += 2) allocator.Free(all[i]);
}

void BM_IntervalAllocator_FitAfterAllGaps(benchmark::State& state) {
  IntervalAllocator allocator(InclusiveRange{0, kSpaceEnd});
  Fragment(allocator, state.range(0));
  const Constraint want{2 * kChunk, 0, kSpaceEnd, 2 * kChunk, AllocPolicy::kFirstMatch};
  for (auto _ : state) {
    absl::StatusOr<InclusiveRange> got = allocator.Allocate(want);
    benchmark::DoNotOptimize(got);
    if (!allocator.Free(*got).ok()) state.SkipWithError("free failed");
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["free_ranges"] = static_cast<double>(allocator.free_range_count());
}
constexpr int64_t kSizes[] = {16, 64, 256, 1000, 10000, 100000};

void LiveSizes(benchmark::internal::Benchmark* b) {
  b->ArgName("live");
  for (int64_t n : kSizes) b->Arg(n);
}

BENCHMARK(BM_IntervalAllocator_FitAfterAllGaps)->Apply(LiveSizes);

void BM_LinearScan_FitAfterAllGaps(benchmark::State& state) {
  LinearScanAllocator allocator(InclusiveRange{0, kSpaceEnd});
  Fragment(allocator, state.range(0));
  for (auto _ : state) {
    std::optional<InclusiveRange> got = allocator.Allocate(2 * kChunk, 2 * kChunk);
    benchmark::DoNotOptimize(got);
    allocator.Free(*got);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LinearScan_FitAfterAllGaps)->Apply(LiveSizes);

void BM_IntervalAllocator_LastMatchInAGap(benchmark::State& state) {
  IntervalAllocator allocator(InclusiveRange{0, kSpaceEnd});
  Fragment(allocator, state.range(0));
  const uint64_t top = static_cast<uint64_t>(state.range(0)) * 2 * kChunk - 1;
  const Constraint want{kChunk, 0, top, kChunk, AllocPolicy::kLastMatch};
  for (auto _ : state) {
    absl::StatusOr<InclusiveRange> got = allocator.Allocate(want);
    benchmark::DoNotOptimize(got);
    if (!allocator.Free(*got).ok()) state.SkipWithError("free failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IntervalAllocator_LastMatchInAGap)->Apply(LiveSizes);

// A request as a VMM makes them: ports, 4 KiB MMIO, a BAR aligned to its own size, 2 MiB or
// 1 GiB of memory.
struct Request {
  uint64_t size;
  uint64_t align;
};

std::vector<Request> VmmRequests(size_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Request> out;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t kind = rng() % 20;
    if (kind < 4) {
      out.push_back({1 + rng() % 16, uint64_t{1} << (rng() % 4)});  // ports
    } else if (kind < 12) {
      out.push_back({kChunk, kChunk});  // a 4 KiB MMIO window
    } else if (kind < 16) {
      const uint64_t bar = uint64_t{1} << (12 + rng() % 13);  // 4 KiB to 16 MiB
      out.push_back({bar, bar});
    } else if (kind < 19) {
      out.push_back({uint64_t{2} << 20, uint64_t{2} << 20});  // a 2 MiB page
    } else {
      out.push_back({uint64_t{1} << 30, uint64_t{1} << 30});  // a 1 GiB page
    }
  }
  return out;
}

// n live ranges; each iteration frees one of them (chosen at random) and allocates the next
// request. Both allocators see the same sequence.
template <typename Alloc, typename Free>
void MixedWorkload(benchmark::State& state, Alloc&& allocate, Free&& free) {
  const size_t live = static_cast<size_t>(state.range(0));
  const std::vector<Request> requests = VmmRequests(1 << 16, 11);
  std::vector<InclusiveRange> held;
  size_t next = 0;
  for (; held.size() < live; ++next) held.push_back(allocate(requests[next % requests.size()]));
  std::mt19937_64 rng(5);
  for (auto _ : state) {
    const size_t victim = rng() % held.size();
    free(held[victim]);
    held[victim] = allocate(requests[next++ % requests.size()]);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_IntervalAllocator_Mixed(benchmark::State& state) {
  IntervalAllocator allocator(InclusiveRange{0, kMixedEnd});
  MixedWorkload(
      state,
      [&](const Request& r) {
        absl::StatusOr<InclusiveRange> got =
            allocator.Allocate(Constraint{r.size, 0, kMixedEnd, r.align, AllocPolicy::kFirstMatch});
        if (!got.ok()) std::abort();
        return *got;
      },
      [&](const InclusiveRange& r) {
        if (!allocator.Free(r).ok()) std::abort();
      });
}
BENCHMARK(BM_IntervalAllocator_Mixed)->Apply(LiveSizes);

void BM_LinearScan_Mixed(benchmark::State& state) {
  LinearScanAllocator allocator(InclusiveRange{0, kMixedEnd});
  MixedWorkload(
      state,
      [&](const Request& r) {
        std::optional<InclusiveRange> got = allocator.Allocate(r.size, r.align);
        if (!got.has_value()) std::abort();
        return *got;
      },
      [&](const InclusiveRange& r) { allocator.Free(r); });
}
BENCHMARK(BM_LinearScan_Mixed)->Apply(LiveSizes);

// A PCI-like device: 8 ports, a 4 KiB MMIO BAR, a legacy IRQ and a 4-vector MSI block.
void BM_ResourceManager_DeviceAllocateFree(benchmark::State& state) {
  ResourceManager resources = ResourceManager::X86Defaults();
  const ResourceConstraint device[] = {PioConstraint{8, 8}, MmioConstraint{0x1000},
                                       LegacyIrqConstraint{}, PciMsiIrqConstraint{4}};
  for (auto _ : state) {
    absl::StatusOr<DeviceResources> got = resources.AllocateDeviceResources(device);
    benchmark::DoNotOptimize(got);
    if (!got.ok() || !resources.FreeDeviceResources(*got).ok()) state.SkipWithError("failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ResourceManager_DeviceAllocateFree);

void PrintSummary(const bench::CollectingReporter& results, const bench::SuiteOptions& options) {
  auto ns = [&](const char* name, int64_t live) {
    return results.NsOf(absl::StrFormat("%s/live:%d", name, live));
  };
  std::printf("\nAllocate + free, ns (CPU, median). Lower is better.\n\n");
  std::printf("%8s %10s %10s %7s %10s %10s %7s %10s\n", "live", "fragment.", "linear", "ratio",
              "mixed", "linear", "ratio", "last-fit");
  bool faster_everywhere = true;
  for (int64_t n : kSizes) {
    const double ours = ns("BM_IntervalAllocator_FitAfterAllGaps", n);
    const double scan = ns("BM_LinearScan_FitAfterAllGaps", n);
    const double mixed = ns("BM_IntervalAllocator_Mixed", n);
    const double mixed_scan = ns("BM_LinearScan_Mixed", n);
    if (ours < 0) continue;
    std::printf("%8lld %10.0f %10.0f %7.2f %10.0f %10.0f %7.2f %10.0f\n", static_cast<long long>(n),
                ours, scan, ours / scan, mixed, mixed_scan, mixed / mixed_scan,
                ns("BM_IntervalAllocator_LastMatchInAGap", n));
    if (n >= 64) faster_everywhere &= ours < scan && mixed < mixed_scan;
  }
  std::printf(
      "  fragment.: a fit after every gap; mixed: a VMM's requests; ratio: ours / the "
      "linear scan\n");
  const double device = results.NsOf("BM_ResourceManager_DeviceAllocateFree");
  std::printf("  a PCI-like device through ResourceManager, allocated and freed: %.0f ns\n",
              device);
  if (options.quick) {
    std::printf("\nA smoke run (--quick): too short to be read as a result; no verdicts.\n");
    return;
  }
  const double at_1k = ns("BM_IntervalAllocator_FitAfterAllGaps", 1000);
  const double at_100k = ns("BM_IntervalAllocator_FitAfterAllGaps", 100000);
  if (at_1k < 0 || at_100k < 0 || device < 0) return;
  std::printf("\nVerdicts:\n");
  bench::PrintVerdict(at_1k <= 500, "at most 0.5 us at 1,000 live ranges",
                      absl::StrFormat("%.2f us", at_1k / 1e3));
  bench::PrintVerdict(at_100k <= 1000, "at most 1 us at 100,000 live ranges",
                      absl::StrFormat("%.2f us", at_100k / 1e3));
  bench::PrintVerdict(faster_everywhere, "faster than the linear scan at every size from 64 up",
                      faster_everywhere ? "yes, both workloads" : "no (see the ratios above)");
  bench::PrintVerdict(at_100k <= 2 * at_1k, "100,000 live ranges within 2x of 1,000",
                      absl::StrFormat("%.2fx", at_100k / at_1k));
  bench::PrintVerdict(device <= 1000, "a PCI-like device's allocate + free at most 1 us",
                      absl::StrFormat("%.2f us", device / 1e3));
}

}  // namespace
}  // namespace dbs

int main(int argc, char** argv) {
  const dbs::bench::SuiteOptions options = dbs::bench::ParseSuiteFlags(
      &argc, argv,
      "allocator_bench: IntervalAllocator against a first-fit linear scan as the space "
      "fragments,\nand a device through ResourceManager, then a summary with verdicts.\n"
      "  ./bazelw run -c opt //benchmarks:allocator_bench [-- --quick]",
      /*repetitions=*/3, /*min_time=*/0.1);
  dbs::PrintSummary(*dbs::bench::RunBenchmarks(), options);
  benchmark::Shutdown();
  return 0;
}
