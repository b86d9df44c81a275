// bus/rcu.h — read-copy-update for the VM-exit path: read sections that cost a store to the
// thread's own cache line, deferred reclamation that a stalled reader cannot make grow, and
// grace periods that writers pay for, rarely.
//
// THE PROBLEM
// Every VM exit on every vCPU thread looks a device up by address; devices are added and
// removed a few times in a VM's life. The read side must therefore be nearly free and never
// wait, while a writer must know when an old version of the device map can be freed.
//
// WHY NOT THE OBVIOUS DESIGNS (measured by benchmarks/bus_bench; see benchmarks/README.md)
// - A reader-writer lock (Rust's RwLock<IoManager>, std::shared_mutex): every reader
//   writes the lock word, so two readers bounce one cache line.
// - An atomic<shared_ptr> to an immutable copy (the ArcSwap design): every reader
//   increments a shared reference count; libstdc++ 12 even takes a lock.
// - liburcu: its QSBR flavour is as cheap as nothing but every thread must register and
//   report quiescent states, which a library cannot demand of a VMM's vCPU loop; its memb
//   and bulletproof flavours need no quiescent states but cost more per section.
// - Classic epoch RCU (what this file did first): a reader that stalls inside a section (a
//   device waiting on I/O, a debugger stop) keeps everything retired after it entered, so
//   memory grows with every publication until it returns.
//
// THE DESIGN
// Each thread owns a reader slot, on its own cache line, created on its first read section
// and released when the thread exits: no registration call. A global epoch counter is
// advanced by writers, once per retirement. Entering the outermost read section stores the
// current epoch in the slot's `lower` field; leaving stores 0. A nested section sees a
// nonzero `lower` in its own slot and does nothing.
//
// Ordering without fences on the read side: a writer that needs to know which readers might
// still see an old pointer calls membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a
// full memory barrier on every CPU currently running one of our threads. That pairs with
// the reader's compiler-only barrier between "store my slot" and "load the pointer", so the
// reader needs no mfence and no locked instruction. Where membarrier is unavailable,
// readers fall back to a sequentially consistent store (an xchg); under ThreadSanitizer,
// which cannot see membarrier, they always do, and every ordering is carried by the atomics.
//
// Interval-based reclamation (Wen et al., "Interval-based memory reclamation", PPoPP 2018).
// An object may be retired with its birth epoch (read by the writer before it published the
// object). A reader's slot holds a reservation [lower, upper]: `lower` from entering, and
// `upper` an epoch announced by ReadSection::Load. Load reads the pointer and compares the
// object's birth with the section's entry epoch: an object born before the section began
// (the common case: no writer published in between) is covered by the entry; a younger
// one makes Load announce the current epoch as `upper` and load again. An object retired at
// epoch r with birth b is freed once every active reservation ends before b or begins after
// r. So a reader stalled inside a section keeps
// only what was alive while it loaded: everything born after its last Load is freed even
// while it stays, and memory behind it stops growing with the number of publications.
// Objects retired without a birth (Retire(p)) are treated as born before every reader:
// classic RCU.
//
// Reclamation is non-blocking. Retire never waits; a poll (one membarrier plus a scan of
// the slots) frees what is safe. Every poll interrupts each running vCPU (the membarrier's
// IPI, which in a VM is an exit), so polls are rate-limited: one runs when the bytes
// retired since the last poll reach Options::poll_bytes and Options::min_poll_interval has
// passed, or when Options::poll_interval has passed with something pending, or when the
// unpolled bytes reach Options::max_unpolled_bytes whatever the time. Synchronize() waits
// until every read section that began before it has ended, then frees everything retired
// before it; it is the only call that waits, so no lock held by a writer ever waits for
// readers.
//
// COSTS (benchmarks/bus_bench -c opt; figures in benchmarks/README.md)
// - Read section, enter + leave: a load of the epoch and a store to the thread's own slot
//   line, then a store on leaving; a nested one, one load. Load: the pointer's load and a
//   compare with the object's birth.
// - Retire: an append under the domain mutex and one atomic increment of the epoch.
// - Poll or Synchronize with no reader running: a membarrier and a scan of the slots.
//   With a reader running on another CPU, an inter-processor interrupt on it.
//
// RULES AND LIMITATIONS
// - NEVER BLOCK INSIDE A READ SECTION on anything a writer might hold while it synchronizes.
//   A long section delays Synchronize() but not publication, and with Load and birth
//   epochs it does not make memory grow.
// - Objects retired with a birth epoch must be reached only through pointers loaded with
//   ReadSection::Load (and through what those objects point at, which must be no younger).
//   Objects retired without one may be loaded with a plain acquire load inside a section.
// - Synchronize() inside a read section would wait for itself: it returns
//   kFailedPrecondition instead.
// - Reader state is per thread and shared by every RcuDomain: a section in one domain
//   delays grace periods in all of them. Domains differ in what they have retired.
// - A thread that exits inside a read section leaks nothing but is treated as having left.
// - Deleters run on whichever thread polls, synchronizes or destroys the domain, with no
//   lock of this library held; they may call any method of the domain, Retire included.
// - At most kMaxThreads threads can hold a reader slot at once (slots of exited threads are
//   reused).
//
// Thread-safety: every member is thread-safe.

#ifndef DBS_DEVICE_BUS_RCU_H_
#define DBS_DEVICE_BUS_RCU_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/config.h"
#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "dbs_device/base/mutex.h"

namespace dbs {

namespace rcu_internal {

// One reader thread's state. The slot line is written only by its owner.
struct alignas(64) ReaderSlot {
  // 0 when the thread is outside every read section, else the epoch read on entering the
  // outermost one (epochs start at 1).
  std::atomic<uint64_t> lower{0};
  // The epoch announced by the latest ReadSection::Load that found the epoch changed since
  // the section began. Meaningful only while `lower` is nonzero, and then as
  // max(lower, upper): a value left from an earlier section is below `lower`.
  std::atomic<uint64_t> upper{0};
  std::atomic<bool> in_use{false};
};

// The calling thread's slot, or null before its first read section.
inline constinit thread_local ReaderSlot* tls_slot ABSL_ATTRIBUTE_INITIAL_EXEC = nullptr;

// Advanced by writers; read by readers on entering their outermost section and in Load.
extern std::atomic<uint64_t> g_epoch;
// True when readers may use a compiler barrier only (membarrier registered).
extern std::atomic<bool> g_readers_use_membarrier;

ReaderSlot* AcquireSlotForThisThread();

// Stores `epoch` into the calling thread's slot field, ordered before the loads that follow
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

// An RAII read-side section. Cheap (a store to this thread's own cache line on entry and
// one on exit), nestable, usable on any thread without registration. While it lives,
// nothing it could have loaded is freed. Must be destroyed on the thread that created it.
class ABSL_SCOPED_LOCKABLE ReadSection {
 public:
  ABSL_ATTRIBUTE_ALWAYS_INLINE ReadSection() {
    rcu_internal::ReaderSlot* slot = rcu_internal::tls_slot;
    if (ABSL_PREDICT_FALSE(slot == nullptr)) slot = rcu_internal::AcquireSlotForThisThread();
    // Nesting is read off the slot rather than counted, so a loop of sections carries no
    // load-modify-store chain from one section to the next. A nested section keeps the
    // outer one's epoch: the reservation it extends.
    const uint64_t entered = slot->lower.load(std::memory_order_relaxed);
    if (entered != 0) {
      epoch_ = entered;
      return;
    }
    const uint64_t epoch = rcu_internal::g_epoch.load(std::memory_order_acquire);
    rcu_internal::Announce(slot->lower, epoch);
    outermost_ = slot;
    epoch_ = epoch;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~ReadSection() {
    // Every load of the section happens before a writer sees the slot idle.
    if (outermost_ != nullptr) outermost_->lower.store(0, std::memory_order_release);
  }
  ReadSection(const ReadSection&) = delete;
  ReadSection& operator=(const ReadSection&) = delete;

  // Loads a pointer to an object that writers publish and later retire with a birth epoch
  // (`birth_of(p)`, the epoch read before publishing it; the object may point only at
  // objects no younger than itself), keeping it and what it points at alive while this
  // section lives. An object born no later than this section's entry is covered by the
  // entry's reservation: one load and a compare. A younger one (published since) makes the
  // section announce the current epoch and load again.
  template <typename T, typename BirthOf>
  ABSL_ATTRIBUTE_ALWAYS_INLINE T* Load(const std::atomic<T*>& pointer, BirthOf birth_of) const {
    T* p = pointer.load(rcu_internal::kLoadOrder);
    if (ABSL_PREDICT_TRUE(birth_of(p) <= epoch_)) return p;
    return LoadAfterPublication(pointer, birth_of);
  }

  // True if the calling thread is inside any read section.
  static bool InSection() {
    const rcu_internal::ReaderSlot* slot = rcu_internal::tls_slot;
    return slot != nullptr && slot->lower.load(std::memory_order_relaxed) != 0;
  }

 private:
  // Announces the current epoch as the reservation's upper end, then loads, until what was
  // loaded is no younger than what was announced. Ends as soon as no writer publishes
  // between an announcement and the load after it.
  template <typename T, typename BirthOf>
  ABSL_ATTRIBUTE_NOINLINE T* LoadAfterPublication(const std::atomic<T*>& pointer,
                                                  BirthOf birth_of) const {
    rcu_internal::ReaderSlot* slot = rcu_internal::tls_slot;
    for (;;) {
      const uint64_t epoch = rcu_internal::g_epoch.load(rcu_internal::kLoadOrder);
      rcu_internal::Announce(slot->upper, epoch);
      T* p = pointer.load(rcu_internal::kLoadOrder);
      if (birth_of(p) <= epoch) return p;
    }
  }

  rcu_internal::ReaderSlot* outermost_ = nullptr;  // null for a nested section
  uint64_t epoch_ = 0;  // the reservation's lower end: announced on entry, or the outer one's
};

// A set of retired objects and the grace periods that free them.
class RcuDomain {
 public:
  // Reader slots available at once.
  static constexpr size_t kMaxThreads = 4096;
  // The birth of an object retired without one: before every reader.
  static constexpr uint64_t kBornBeforeEveryReader = 0;

  // When Retire polls (see "Reclamation is non-blocking" above).
  struct Options {
    size_t poll_bytes = size_t{256} << 10;
    std::chrono::nanoseconds min_poll_interval = std::chrono::milliseconds(1);
    std::chrono::nanoseconds poll_interval = std::chrono::milliseconds(10);
    size_t max_unpolled_bytes = size_t{64} << 20;
  };

  // One object to retire: `deleter(object)` runs once no reader can reach it. `bytes` is
  // what freeing it gives back (for the poll's rate limit and the statistics); `birth` the
  // epoch read before it was published (CurrentEpoch()), or kBornBeforeEveryReader.
  struct Retiree {
    void* object;
    void (*deleter)(void*);
    size_t bytes = 0;
    uint64_t birth = kBornBeforeEveryReader;
  };

  // Counters, for tests and monitoring.
  struct Stats {
    uint64_t retired = 0;        // objects handed to Retire, RetireAll or Call
    uint64_t reclaimed = 0;      // objects whose deleter has run
    uint64_t retired_bytes = 0;  // their `bytes`
    uint64_t reclaimed_bytes = 0;
    uint64_t grace_periods = 0;  // completed Synchronize calls
    uint64_t polls = 0;          // non-blocking reclamation passes
  };

  RcuDomain() : RcuDomain(Options()) {}
  explicit RcuDomain(Options options);
  // Frees everything still pending, after a grace period, with no lock held, until nothing
  // is pending (a deleter may retire more).
  // REQUIRES: no other thread uses the domain; not called inside a read section.
  ~RcuDomain();
  RcuDomain(const RcuDomain&) = delete;
  RcuDomain& operator=(const RcuDomain&) = delete;

  // The process-wide domain used by default. Never destroyed.
  static RcuDomain& Default();

  // The epoch a writer records as the birth of objects it is about to publish.
  static uint64_t CurrentEpoch() { return rcu_internal::g_epoch.load(std::memory_order_seq_cst); }

  // Calls `deleter(object)` once no read section that could have seen `object` is in
  // progress. The caller has already unpublished `object`. Never waits; may poll, running
  // deleters on the calling thread, so call it with no lock held that a deleter might take.
  void Retire(void* object, void (*deleter)(void*), size_t bytes = 0,
              uint64_t birth = kBornBeforeEveryReader) ABSL_LOCKS_EXCLUDED(mu_);
  template <typename T>
  void Retire(T* object) {
    Retire(
        static_cast<void*>(const_cast<std::remove_const_t<T>*>(object)),
        [](void* p) { delete static_cast<T*>(p); }, sizeof(T));
  }
  // Retires every object of `objects` at one epoch, as one call.
  void RetireAll(absl::Span<const Retiree> objects) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `callback` after a grace period (for work that is not a plain delete).
  void Call(absl::AnyInvocable<void() &&> callback) ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until every read section that began before the call has ended, then runs what
  // was retired before it. kFailedPrecondition (and no wait) inside a read section.
  [[nodiscard]] absl::Status Synchronize() ABSL_LOCKS_EXCLUDED(mu_);

  // Frees, without waiting, whatever no current reader can still reach.
  void Poll() ABSL_LOCKS_EXCLUDED(mu_);

  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);
  // Objects retired and not yet freed, and their bytes.
  size_t pending() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t pending_bytes() const ABSL_LOCKS_EXCLUDED(mu_);

  // True when readers run with a compiler barrier only (membarrier is available).
  static bool UsesMembarrier();

 private:
  struct Retired {
    uint64_t birth;
    uint64_t retire;  // the epoch when it was retired: no reader that entered later sees it
    void* object;
    void (*deleter)(void*);
    size_t bytes;
  };
  struct Reservation {
    uint64_t lower;
    uint64_t upper;
  };

  void Enqueue(absl::Span<const Retiree> objects) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs, outside the lock, the deleters of the objects retired before `retired_before`
  // that no reservation of `reservations` can reach.
  void Reclaim(uint64_t retired_before, absl::Span<const Reservation> reservations,
               bool grace_period) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs deleters with no lock held and counts them.
  void RunDeleters(std::vector<Retired>& ready) ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  mutable internal::Mutex mu_;
  std::vector<Retired> pending_ ABSL_GUARDED_BY(mu_);  // in ascending `retire` order
  size_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t bytes_since_poll_ ABSL_GUARDED_BY(mu_) = 0;
  std::chrono::steady_clock::time_point last_poll_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dbs

#endif  // DBS_DEVICE_BUS_RCU_H_
