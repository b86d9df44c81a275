// bus/internal/rcu_reader.h — the reader side of bus/rcu.h: each thread's published state
// and the stores that announce it. Internal to bus/rcu.h.

#ifndef DBS_DEVICE_BUS_INTERNAL_RCU_READER_H_
#define DBS_DEVICE_BUS_INTERNAL_RCU_READER_H_

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/config.h"
#include "absl/base/optimization.h"

namespace dbs {

namespace rcu_internal {

// One reader thread's published state: its reservation [lower, upper]. On its own cache
// line, written only by its owner.
struct alignas(64) ReaderState {
  // 0 when the thread is outside every read section, else the epoch read on entering the
  // outermost one (epochs start at 1).
  std::atomic<uint64_t> lower{0};
  // The epoch announced by the latest ReadSection::Load that found the epoch changed since
  // the section began. Meaningful only while `lower` is nonzero, and then as
  // max(lower, upper): a value left from an earlier section is below `lower`.
  std::atomic<uint64_t> upper{0};
  std::atomic<bool> in_use{false};
};

// The calling thread's state, or null before its first read section.
inline constinit thread_local ReaderState* tls_reader ABSL_ATTRIBUTE_INITIAL_EXEC = nullptr;

// Advanced by writers; read by readers on entering their outermost section and in Load.
extern std::atomic<uint64_t> g_epoch;
// True when readers may use a compiler barrier only (membarrier registered).
extern std::atomic<bool> g_readers_use_membarrier;

ReaderState* AcquireReaderForThisThread();

// Stores `epoch` into a field of the calling thread's state, ordered before the loads that follow
// as far as a writer's barrier can tell.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void Announce(std::atomic<uint64_t>& field, uint64_t epoch) {
#ifdef ABSL_HAVE_THREAD_SANITIZER
  field.store(epoch, std::memory_order_seq_cst);
#else
  if (ABSL_PREDICT_TRUE(g_readers_use_membarrier.load(std::memory_order_relaxed))) {
    field.store(epoch, std::memory_order_relaxed);
    // Paired with the writer's membarrier: orders the store before the section's loads on
    // this CPU as far as the writer can tell.
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    field.store(epoch, std::memory_order_seq_cst);
  }
#endif
}

#ifdef ABSL_HAVE_THREAD_SANITIZER
inline constexpr std::memory_order kLoadOrder = std::memory_order_seq_cst;
#else
inline constexpr std::memory_order kLoadOrder = std::memory_order_acquire;
#endif

}  // namespace rcu_internal

}  // namespace dbs

#endif  // DBS_DEVICE_BUS_INTERNAL_RCU_READER_H_
