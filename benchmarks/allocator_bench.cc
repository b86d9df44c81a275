// Allocation cost with 1k, 10k and 100k live ranges in a fragmented space: IntervalAllocator
// (a treap with per-alignment capacity summaries, O(log n)) against a first-fit linear scan
// over a sorted free list (the design of rust-vmm's and several VMMs' allocators), plus a
// whole device's allocation through ResourceManager.
//
//   ./bazelw run -c opt //benchmarks:allocator_bench
//
// The space holds n live 4 KiB ranges at an 8 KiB stride, so n free 4 KiB gaps lie between
// them. Each iteration allocates a range that fits no gap (8 KiB, 8 KiB aligned) and frees
// it: first fit must find the free tail after every gap. A second case asks for a 4 KiB
// range at 4 KiB alignment with last-match policy among the gaps.

#include <cstdint>
#include <map>
#include <optional>

#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "dbs_device/resources/allocator.h"
#include "dbs_device/resources/resource_manager.h"

namespace dbs {
namespace {

constexpr uint64_t kChunk = 0x1000;
constexpr uint64_t kSpaceEnd = (uint64_t{1} << 40) - 1;

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
BENCHMARK(BM_IntervalAllocator_FitAfterAllGaps)
    ->ArgName("live")
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000);

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
BENCHMARK(BM_LinearScan_FitAfterAllGaps)->ArgName("live")->Arg(1000)->Arg(10000)->Arg(100000);

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
BENCHMARK(BM_IntervalAllocator_LastMatchInAGap)
    ->ArgName("live")
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000);

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

}  // namespace
}  // namespace dbs

BENCHMARK_MAIN();
