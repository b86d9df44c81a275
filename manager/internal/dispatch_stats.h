// manager/internal/dispatch_stats.h — per-device dispatch counters that cost the dispatch
// path no shared cache-line write.
//
// Every registered device gets a stats slot, a small integer. Each thread keeps its own
// table of counters indexed by slot and bumps them with plain (relaxed, single-writer)
// loads and stores: no atomic read-modify-write, and no line another thread writes. A
// reader of the statistics sums the slot over every thread's table (and over the threads
// that have exited, whose counts are folded into an accumulator when they exit) under the
// registry mutex. Slots are reused: a slot is released only after a grace period (so no
// dispatch of the old device is still counting) and the counts left in it become the new
// owner's baseline, subtracted when read.
//
// Internal to dbs_device; IoManager exposes the counts as DeviceStats.

#ifndef DBS_DEVICE_MANAGER_INTERNAL_DISPATCH_STATS_H_
#define DBS_DEVICE_MANAGER_INTERNAL_DISPATCH_STATS_H_

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

namespace dbs::manager_internal {

// absl::StatusCode values are 0..16.
inline constexpr int kStatusCodes = 17;

// One device's counts on one thread. Written only by that thread. Kept to 32 bytes, two
// per cache line, so thousands of devices stay in a core's L2; failed accesses, which are
// rare, are counted in a separate table (ErrorCounters).
struct alignas(32) Counters {
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_written{0};
};

// One device's failed accesses on one thread, by absl::StatusCode.
struct ErrorCounters {
  std::atomic<uint64_t> by_code[kStatusCodes] = {};
};

// A plain sum of Counters.
struct CountSnapshot {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t errors[kStatusCodes] = {};

  CountSnapshot& operator+=(const CountSnapshot& other);
  CountSnapshot& operator-=(const CountSnapshot& other);
};

// Adds to a counter that only the calling thread writes: a load and a store, no lock.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void Bump(std::atomic<uint64_t>& counter, uint64_t n) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// A thread's counters, indexed by slot.
struct ThreadTable {
  uint32_t capacity = 0;
  Counters* counters = nullptr;
  ErrorCounters* errors = nullptr;
};

inline constinit ThreadTable g_empty_table{};
inline constinit thread_local ThreadTable* tls_table ABSL_ATTRIBUTE_INITIAL_EXEC = &g_empty_table;

// Grows the calling thread's table to hold `slot` (registering the thread on first use).
Counters& GrowThreadTable(uint32_t slot);

// The calling thread's counters for `slot`.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline Counters& LocalCounters(uint32_t slot) {
  ThreadTable* table = tls_table;
  if (ABSL_PREDICT_FALSE(slot >= table->capacity)) return GrowThreadTable(slot);
  return table->counters[slot];
}

// Counts one failed access with `code` against `slot` on the calling thread.
void CountError(uint32_t slot, int code);

// Slot management (thread-safe).
uint32_t AllocateStatsSlot();
// REQUIRES: no dispatch still counts into `slot` (call after a grace period).
void ReleaseStatsSlot(uint32_t slot);
// The counts of `slot` since it was allocated.
CountSnapshot ReadStatsSlot(uint32_t slot);

}  // namespace dbs::manager_internal

#endif  // DBS_DEVICE_MANAGER_INTERNAL_DISPATCH_STATS_H_
