// bus/rcu.h — read-copy-update for the VM-exit path: read sections that cost a store to the
// thread's own cache line, deferred reclamation, and grace periods paid by writers.
//
// THE PROBLEM
// Every VM exit on every vCPU thread looks a device up by address; devices are added and
// removed a few times in a VM's life. The read side must therefore be nearly free and never
// wait, while a writer must know when an old version of the device map can be freed.
//
// WHY NOT THE OBVIOUS DESIGNS (figures: ../shared/MEASUREMENTS.md and benchmarks/bus_bench,
// these 2-vCPU AMD EPYC machines, per lookup, ratio to an unprotected absl::btree_map)
// - A reader-writer lock (Rust's RwLock<IoManager>, std::shared_mutex): every reader
//   writes the lock word, so two readers bounce one cache line: 4.4x with two threads.
// - An atomic<shared_ptr> to an immutable copy (the ArcSwap design): every reader
//   increments a shared reference count; libstdc++ 12 even takes a lock: 10x with two.
// - liburcu: its QSBR flavour is as cheap as nothing (0.97x) but every thread must register
//   and report quiescent states, which a library cannot demand of a VMM's vCPU loop; its
//   memb flavour needs registration too and costs 2x beside a writer.
//
// THE DESIGN
// Each thread owns a reader slot, on its own cache line, created on its first read section
// and released when the thread exits: no registration call. A global epoch counter is
// advanced by writers. Entering the outermost read section stores the current epoch in the
// slot; leaving stores 0. A nested section sees a nonzero epoch in its own slot and does
// nothing.
//
// Ordering without fences on the read side: a writer that needs to know which readers might
// still see an old pointer calls membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a
// full memory barrier on every CPU currently running one of our threads. That pairs with
// the reader's compiler-only barrier between "store my slot" and "load the pointer", so the
// reader needs no mfence (32 ns here) and no locked instruction (6 ns). Where membarrier is
// unavailable, readers fall back to a sequentially consistent store (an xchg); under
// ThreadSanitizer, which cannot see membarrier, they always do, and every ordering is
// carried by the atomics themselves.
//
// Reclamation: Retire(p, deleter) tags p with the epoch and advances it; p is freed once
// every reader slot is idle or shows a later epoch. Retire never waits: after every
// kRetireBatch retirements it polls (one membarrier plus a scan of the slots) and frees
// what is safe, which also works inside a read section because the caller's own slot
// counts like any other. Memory stays bounded: what a poll cannot free waits only for the
// read sections in progress at that moment, so the backlog is at most the retirement rate
// times the longest read section (plus one batch). Synchronize() waits until every read
// section that began before it has ended, then frees everything retired before it; it is
// the only call that waits, so no lock held by a writer ever waits for readers.
//
// COSTS (benchmarks/bus_bench -c opt on these 2-vCPU VMs, medians of 5)
// - Read section, enter + leave: 0.7 ns; a nested one 0.4 ns (0.9 and 0.6 ns when nesting
//   was a counter, whose increment and decrement chained one section to the next). Inside
//   a lookup it vanishes: IoBus lookups cost 0.36x (64 ranges) and 0.40x (4096) of an
//   unprotected btree.
// - Retire: an append under the domain mutex, plus a poll every kRetireBatch calls.
// - Synchronize or poll with no reader thread running: 0.13 µs. With a reader running on
//   another CPU: about 14 µs, almost all of it the membarrier's inter-processor interrupt,
//   which in a VM costs an exit on both vCPUs. The reader loses a few µs each time too, so
//   grace periods should stay rare: IoBus retires once per publication and polls once per
//   32 retirements.
//
// RULES AND LIMITATIONS
// - NEVER BLOCK INSIDE A READ SECTION: no sleeping, no waiting on a lock that a writer might
//   hold while it synchronizes. A long section delays reclamation (memory) but not writers'
//   publication.
// - Synchronize() inside a read section would wait for itself: it returns
//   kFailedPrecondition instead.
// - Reader state is per thread and shared by every RcuDomain: a section in one domain
//   delays grace periods in all of them (sections are short, so this costs nothing in
//   practice). Domains differ in what they have retired.
// - A thread that exits inside a read section leaks nothing but is treated as having left.
// - Deleters run on whichever thread polls or synchronizes, outside any lock of this
//   domain; they may call Retire.
// - At most kMaxThreads threads can hold a reader slot at once (slots of exited threads are
//   reused).
//
// Thread-safety: every member is thread-safe.

#ifndef DBS_DEVICE_BUS_RCU_H_
#define DBS_DEVICE_BUS_RCU_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/config.h"
#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "resources/internal/mutex.h"

namespace dbs {

namespace rcu_internal {

// One reader thread's state. The slot line is written only by its owner.
struct alignas(64) ReaderSlot {
  // 0 when the thread is outside every read section, else the epoch read on entering the
  // outermost one (epochs start at 1).
  std::atomic<uint64_t> epoch{0};
  std::atomic<bool> in_use{false};
};

// The calling thread's slot, or null before its first read section.
inline constinit thread_local ReaderSlot* tls_slot ABSL_ATTRIBUTE_INITIAL_EXEC = nullptr;

// Advanced by writers; read by readers on entering their outermost section.
extern std::atomic<uint64_t> g_epoch;
// True when readers may use a compiler barrier only (membarrier registered).
extern std::atomic<bool> g_readers_use_membarrier;

ReaderSlot* AcquireSlotForThisThread();

// Enters a read section. Returns the thread's slot if this is its outermost section (the
// one whose end publishes "idle"), null if the thread is already inside one. Nesting is
// read off the slot's own epoch rather than counted, so a loop of sections carries no
// load-modify-store chain from one section to the next: entering only loads the slot (a
// well-predicted branch) and stores the epoch.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline ReaderSlot* EnterRead() {
  ReaderSlot* slot = tls_slot;
  if (ABSL_PREDICT_FALSE(slot == nullptr)) slot = AcquireSlotForThisThread();
  if (slot->epoch.load(std::memory_order_relaxed) != 0) return nullptr;
  const uint64_t epoch = g_epoch.load(std::memory_order_acquire);
#ifdef ABSL_HAVE_THREAD_SANITIZER
  slot->epoch.store(epoch, std::memory_order_seq_cst);
#else
  if (ABSL_PREDICT_TRUE(g_readers_use_membarrier.load(std::memory_order_relaxed))) {
    slot->epoch.store(epoch, std::memory_order_relaxed);
    // Paired with the writer's membarrier: orders the slot store before the loads of the
    // section on this CPU as far as the writer can tell.
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    slot->epoch.store(epoch, std::memory_order_seq_cst);
  }
#endif
  return slot;
}

// Leaves the section EnterRead returned `outermost` for.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void LeaveRead(ReaderSlot* outermost) {
  // Every load of the section happens before a writer sees the slot idle.
  if (outermost != nullptr) outermost->epoch.store(0, std::memory_order_release);
}

}  // namespace rcu_internal

// An RAII read-side section. Cheap (two stores to this thread's own cache line), nestable,
// usable on any thread without registration. While it lives, nothing retired after it
// began is freed. Must be destroyed on the thread that created it.
class ABSL_SCOPED_LOCKABLE ReadSection {
 public:
  ABSL_ATTRIBUTE_ALWAYS_INLINE ReadSection() : outermost_(rcu_internal::EnterRead()) {}
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~ReadSection() { rcu_internal::LeaveRead(outermost_); }
  ReadSection(const ReadSection&) = delete;
  ReadSection& operator=(const ReadSection&) = delete;

  // True if the calling thread is inside any read section.
  static bool InSection() {
    const rcu_internal::ReaderSlot* slot = rcu_internal::tls_slot;
    return slot != nullptr && slot->epoch.load(std::memory_order_relaxed) != 0;
  }

 private:
  rcu_internal::ReaderSlot* const outermost_;  // null for a nested section
};

// A set of retired objects and the grace periods that free them.
class RcuDomain {
 public:
  // Retirements between two non-blocking polls.
  static constexpr size_t kRetireBatch = 32;
  // Reader slots available at once.
  static constexpr size_t kMaxThreads = 4096;

  // Counters, for tests and monitoring.
  struct Stats {
    uint64_t retired = 0;        // objects handed to Retire
    uint64_t reclaimed = 0;      // objects whose deleter has run
    uint64_t grace_periods = 0;  // completed Synchronize calls (including internal ones)
    uint64_t polls = 0;          // non-blocking reclamation passes
  };

  RcuDomain();
  // Frees everything still pending, after a grace period.
  // REQUIRES: no other thread uses the domain; not called inside a read section.
  ~RcuDomain();
  RcuDomain(const RcuDomain&) = delete;
  RcuDomain& operator=(const RcuDomain&) = delete;

  // The process-wide domain used by default. Never destroyed.
  static RcuDomain& Default();

  // Calls `deleter(object)` once no read section that could have seen `object` is in
  // progress. The caller has already unpublished `object`. Never waits when called inside a
  // read section.
  void Retire(void* object, void (*deleter)(void*)) ABSL_LOCKS_EXCLUDED(mu_);
  template <typename T>
  void Retire(T* object) {
    Retire(static_cast<void*>(const_cast<std::remove_const_t<T>*>(object)),
           [](void* p) { delete static_cast<T*>(p); });
  }
  // Runs `callback` after a grace period (for work that is not a plain delete).
  void Call(absl::AnyInvocable<void() &&> callback) ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until every read section that began before the call has ended, then runs what
  // was retired before it. kFailedPrecondition (and no wait) inside a read section.
  [[nodiscard]] absl::Status Synchronize() ABSL_LOCKS_EXCLUDED(mu_);

  // Frees, without waiting, whatever no current reader can still see.
  void Poll() ABSL_LOCKS_EXCLUDED(mu_);

  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t pending() const ABSL_LOCKS_EXCLUDED(mu_);

  // True when readers run with a compiler barrier only (membarrier is available).
  static bool UsesMembarrier();

 private:
  struct Retired {
    uint64_t epoch;  // reclaimable once every active reader slot shows a later epoch
    absl::AnyInvocable<void() &&> reclaim;
  };

  void Enqueue(absl::AnyInvocable<void() &&> reclaim) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs the callbacks of entries with epoch < `safe_below`, outside the lock.
  void ReclaimBelow(uint64_t safe_below, bool grace_period) ABSL_LOCKS_EXCLUDED(mu_);

  mutable internal::Mutex mu_;
  std::vector<Retired> pending_ ABSL_GUARDED_BY(mu_);  // in ascending epoch order
  size_t since_poll_ ABSL_GUARDED_BY(mu_) = 0;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dbs

#endif  // DBS_DEVICE_BUS_RCU_H_
