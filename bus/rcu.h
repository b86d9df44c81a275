// bus/rcu.h — read-copy-update for the VM-exit path: read sections that cost a store to the
// thread's own cache line, deferred reclamation that a stalled reader cannot make grow, and
// grace periods that writers pay for, rarely.
//
//   {
//     dbs::ReadSection section;                        // on a vCPU thread, per dispatch
//     const Map* map = section.Load(current, birth_of);
//     ...                                              // *map stays alive until here
//   }
//   domain.RetireAll(replaced);                        // a writer, after publishing
//
// A ReadSection needs no thread registration: a thread's reader state is created on its
// first section and recycled when the thread exits. A writer retires what it unpublished
// with the epoch it was born at; it is freed once no reader that could still reach it is
// inside a section (interval-based reclamation: a reader stalled inside a section keeps
// only what was alive when it loaded, not what later publications retire). Reclamation
// never blocks: Retire polls, rate-limited by Options; Synchronize is the only call that
// waits. Why this design and not a reader-writer lock, an atomic shared_ptr, liburcu or
// classic epochs, and how it orders without a fence on the read side (membarrier), is in
// bus/README.md; what each operation costs is in benchmarks/README.md ("Lookup, and the
// writer side").
//
// RULES AND LIMITATIONS
// - NEVER BLOCK INSIDE A READ SECTION on anything a writer might hold while it synchronizes.
//   A long section delays Synchronize() but not publication, and does not make memory grow.
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
// - At most kMaxThreads threads can be inside sections at once (states of exited threads
//   are reused).
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
#include "dbs_device/bus/internal/rcu_reader.h"

namespace dbs {

// An RAII read-side section. Cheap (a store to this thread's own cache line on entry and
// one on exit), nestable, usable on any thread without registration. While it lives,
// nothing it could have loaded is freed. Must be destroyed on the thread that created it.
class ABSL_SCOPED_LOCKABLE ReadSection {
 public:
  ABSL_ATTRIBUTE_ALWAYS_INLINE ReadSection() {
    rcu_internal::ReaderState* reader = rcu_internal::tls_reader;
    if (ABSL_PREDICT_FALSE(reader == nullptr)) reader = rcu_internal::AcquireReaderForThisThread();
    // Nesting is read off the reader state rather than counted, so a loop of sections carries no
    // load-modify-store chain from one section to the next. A nested section keeps the
    // outer one's epoch: the reservation it extends.
    const uint64_t entered = reader->lower.load(std::memory_order_relaxed);
    if (entered != 0) {
      epoch_ = entered;
      return;
    }
    const uint64_t epoch = rcu_internal::g_epoch.load(std::memory_order_acquire);
    rcu_internal::Announce(reader->lower, epoch);
    outermost_ = reader;
    epoch_ = epoch;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~ReadSection() {
    // Every load of the section happens before a writer sees the reader state idle.
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
    const rcu_internal::ReaderState* reader = rcu_internal::tls_reader;
    return reader != nullptr && reader->lower.load(std::memory_order_relaxed) != 0;
  }

 private:
  // Announces the current epoch as the reservation's upper end, then loads, until what was
  // loaded is no younger than what was announced. Ends as soon as no writer publishes
  // between an announcement and the load after it.
  template <typename T, typename BirthOf>
  ABSL_ATTRIBUTE_NOINLINE T* LoadAfterPublication(const std::atomic<T*>& pointer,
                                                  BirthOf birth_of) const {
    rcu_internal::ReaderState* reader = rcu_internal::tls_reader;
    for (;;) {
      const uint64_t epoch = rcu_internal::g_epoch.load(rcu_internal::kLoadOrder);
      rcu_internal::Announce(reader->upper, epoch);
      T* p = pointer.load(rcu_internal::kLoadOrder);
      if (birth_of(p) <= epoch) return p;
    }
  }

  rcu_internal::ReaderState* outermost_ = nullptr;  // null for a nested section
  uint64_t epoch_ = 0;  // the reservation's lower end: announced on entry, or the outer one's
};

// A set of retired objects and the grace periods that free them.
class RcuDomain {
 public:
  // Threads inside read sections at once, at most.
  static constexpr size_t kMaxThreads = 4096;
  // The birth of an object retired without one: before every reader.
  static constexpr uint64_t kBornBeforeEveryReader = 0;

  // When Retire polls: once the bytes retired since the last poll reach poll_bytes and
  // min_poll_interval has passed; or once poll_interval has passed with something pending;
  // or once the unpolled bytes reach max_unpolled_bytes, whatever the time. Every poll
  // interrupts each running vCPU (membarrier's IPI, which in a VM is an exit).
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
