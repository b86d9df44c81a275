// manager/internal/dispatch_stats.h — per-device dispatch counters that cost the dispatch
// path one increment in the thread's own memory and no shared cache-line write.
//
// Every registered device gets a counter id, a small integer. Each thread keeps its own
// table of counters indexed by id and bumps them with plain (relaxed, single-writer)
// loads and stores: no atomic read-modify-write, and no line another thread writes. A
// successful access is one increment: counters are kept per direction and per access
// length (1, 2, 4 or 8 bytes, which is every length a KVM exit produces), so the byte
// counts are derived when read instead of added on every access. Other lengths and
// failed accesses, which are rare, go through an out-of-line path to a separate table.
//
// A reader of the statistics sums an id's counters over every thread's table (and over the
// threads that have exited, whose counts are folded into an accumulator when they exit)
// under the registry mutex. Ids are reused: an id is released only after a grace period
// (so no dispatch of the old device is still counting) and the counts left in it become the
// new owner's baseline, subtracted when read.
//
// Internal to dbs_device; IoManager exposes the counts as DeviceStats.

#ifndef DBS_DEVICE_MANAGER_INTERNAL_DISPATCH_STATS_H_
#define DBS_DEVICE_MANAGER_INTERNAL_DISPATCH_STATS_H_

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

namespace dbs::manager_internal {

// absl::StatusCode values are 0..16.
inline constexpr int kStatusCodes = 17;
// Access lengths counted on the fast path: 2^k bytes for k < kSizeClasses.
inline constexpr int kSizeClasses = 4;

// One device's rare events on one thread: accesses of other lengths, and failed accesses
// by absl::StatusCode.
struct RareCounters {
  std::atomic<uint64_t> odd_accesses[2] = {};
  std::atomic<uint64_t> odd_bytes[2] = {};
  std::atomic<uint64_t> errors[kStatusCodes] = {};
};

// A plain sum of counters.
struct CountTotals {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t errors[kStatusCodes] = {};

  CountTotals& operator+=(const CountTotals& other);
  CountTotals& operator-=(const CountTotals& other);
};

// Adds to a counter that only the calling thread writes: a load and a store, no lock.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void Bump(std::atomic<uint64_t>& counter, uint64_t n) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// A thread's counters. Successful accesses are counted in one array per (direction,
// length class), indexed by id: the counters a workload touches are dense (8 bytes per
// device for each kind of access it makes, so 4096 devices read one way take 32 KiB), and
// the array for a dispatch is found at a fixed TLS offset with no pointer chase. The
// registry keeps a pointer to each thread's table for summation.
struct ThreadTable {
  uint32_t capacity = 0;
  // [0] reads, [1] writes; [k] accesses of 2^k bytes; each `capacity` long.
  std::atomic<uint64_t>* by_size[2][kSizeClasses] = {};
  RareCounters* rare = nullptr;
};

inline constinit thread_local ThreadTable tls_table ABSL_ATTRIBUTE_INITIAL_EXEC{};

// The slow path of CountAccess: a length of another size, or a table too small for `id`
// (grown here, registering the thread on first use).
void CountAccessSlow(uint32_t id, bool write, size_t length);

// The length class of an access counted on the fast path (k for 2^k bytes), or -1.
constexpr int SizeClass(size_t length) {
  return length < (size_t{1} << kSizeClasses) && std::has_single_bit(length)
             ? std::countr_zero(length)
             : -1;
}

// Counts one successful access of `length` bytes against `id` on the calling thread.
template <bool kWrite>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void CountAccess(uint32_t id, size_t length) {
  const int size_class = SizeClass(length);
  if (ABSL_PREDICT_TRUE(size_class >= 0 && id < tls_table.capacity)) {
    Bump(tls_table.by_size[kWrite][size_class][id], 1);
  } else {
    CountAccessSlow(id, kWrite, length);
  }
}

// Counts one failed access with `code` against `id` on the calling thread.
void CountError(uint32_t id, int code);

// Id management (thread-safe).
uint32_t AllocateCounterId();
// REQUIRES: no dispatch still counts into `id` (call after a grace period).
void ReleaseCounterId(uint32_t id);
// The counts of `id` since it was allocated.
CountTotals ReadCounterTotals(uint32_t id);

}  // namespace dbs::manager_internal

#endif  // DBS_DEVICE_MANAGER_INTERNAL_DISPATCH_STATS_H_
