#include "bus/rcu.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

namespace dbs {
namespace rcu_internal {

std::atomic<uint64_t> g_epoch{1};
std::atomic<bool> g_readers_use_membarrier{false};

namespace {

ReaderSlot g_slots[RcuDomain::kMaxThreads];
std::atomic<size_t> g_slot_count{0};
internal::Mutex g_registry_mu;

#ifdef ABSL_HAVE_THREAD_SANITIZER
// TSan cannot see the ordering a membarrier provides; readers use seq_cst stores.
constexpr std::memory_order kScanOrder = std::memory_order_seq_cst;
#else
constexpr std::memory_order kScanOrder = std::memory_order_acquire;
#endif

bool RegisterMembarrier() {
#ifdef ABSL_HAVE_THREAD_SANITIZER
  return false;
#else
  const long supported = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0);
  if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  if (std::getenv("DBS_RCU_NO_MEMBARRIER") != nullptr) return false;
  return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0;
#endif
}

// Decides the reader mode once, before any reader or writer relies on it.
void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_readers_use_membarrier.store(RegisterMembarrier(), std::memory_order_seq_cst);
  });
}

// Makes every reader's slot store visible to the caller, and the caller's earlier stores
// (the unpublishing of a pointer, the epoch advance) visible to every reader's next load.
void WriterBarrier() {
  InitOnce();
  if (g_readers_use_membarrier.load(std::memory_order_relaxed)) {
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) == 0) return;
    std::fprintf(stderr, "dbs::RcuDomain: membarrier failed after registration\n");
    std::abort();
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

// The lowest epoch shown by a reader inside a section; max if none is.
uint64_t MinActiveEpoch() {
  const size_t n = g_slot_count.load(std::memory_order_acquire);
  uint64_t lowest = std::numeric_limits<uint64_t>::max();
  for (size_t i = 0; i < n; ++i) {
    const uint64_t epoch = g_slots[i].epoch.load(kScanOrder);
    if (epoch != 0) lowest = std::min(lowest, epoch);
  }
  return lowest;
}

// Waits until every slot is idle or shows an epoch >= target.
void WaitForReadersBefore(uint64_t target) {
  const size_t n = g_slot_count.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    int spins = 0;
    for (;;) {
      const uint64_t epoch = g_slots[i].epoch.load(kScanOrder);
      if (epoch == 0 || epoch >= target) break;
      if (spins < 128) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else if (spins < 256) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
      ++spins;
    }
  }
}

// Gives the slot back when its thread exits.
struct SlotReleaser {
  bool armed = false;
  ~SlotReleaser() {
    ReaderSlot* slot = tls_slot;
    if (slot == nullptr) return;
    tls_slot = nullptr;
    slot->epoch.store(0, std::memory_order_release);
    slot->in_use.store(false, std::memory_order_release);
  }
};
thread_local SlotReleaser tls_releaser;

}  // namespace

ReaderSlot* AcquireSlotForThisThread() {
  InitOnce();
  ReaderSlot* slot = nullptr;
  {
    internal::MutexLock lock(&g_registry_mu);
    const size_t n = g_slot_count.load(std::memory_order_relaxed);
    for (size_t i = 0; i < n && slot == nullptr; ++i) {
      if (!g_slots[i].in_use.load(std::memory_order_acquire)) slot = &g_slots[i];
    }
    if (slot == nullptr) {
      if (n == RcuDomain::kMaxThreads) {
        std::fprintf(stderr, "dbs::RcuDomain: more than %zu threads in read sections\n",
                     RcuDomain::kMaxThreads);
        std::abort();
      }
      slot = &g_slots[n];
      g_slot_count.store(n + 1, std::memory_order_release);
    }
    slot->epoch.store(0, std::memory_order_relaxed);
    slot->in_use.store(true, std::memory_order_relaxed);
  }
  tls_releaser.armed = true;  // constructs it, so its destructor runs at thread exit
  tls_slot = slot;
  return slot;
}

}  // namespace rcu_internal

RcuDomain::RcuDomain() { rcu_internal::InitOnce(); }

RcuDomain::~RcuDomain() {
  (void)Synchronize();
  internal::MutexLock lock(&mu_);
  for (Retired& r : pending_) std::move(r.reclaim)();
  pending_.clear();
}

RcuDomain& RcuDomain::Default() {
  static RcuDomain* const domain = new RcuDomain();
  return *domain;
}

bool RcuDomain::UsesMembarrier() {
  rcu_internal::InitOnce();
  return rcu_internal::g_readers_use_membarrier.load(std::memory_order_relaxed);
}

void RcuDomain::Retire(void* object, void (*deleter)(void*)) {
  Enqueue([object, deleter]() { deleter(object); });
}

void RcuDomain::Call(absl::AnyInvocable<void() &&> callback) { Enqueue(std::move(callback)); }

void RcuDomain::Enqueue(absl::AnyInvocable<void() &&> reclaim) {
  bool poll = false;
  {
    internal::MutexLock lock(&mu_);
    // Readers that read the epoch after this advance cannot see the object: it was
    // unpublished before Retire. Those that read it before show an epoch <= this one.
    const uint64_t epoch = rcu_internal::g_epoch.fetch_add(1, std::memory_order_seq_cst);
    pending_.push_back(Retired{epoch, std::move(reclaim)});
    ++stats_.retired;
    if (++since_poll_ >= kRetireBatch) {
      since_poll_ = 0;
      poll = true;
    }
  }
  if (poll) Poll();
}

void RcuDomain::Poll() {
  // Only what was retired before the barrier can be judged by it.
  const uint64_t retired_before = rcu_internal::g_epoch.load(std::memory_order_seq_cst);
  rcu_internal::WriterBarrier();
  const uint64_t safe_below = std::min(retired_before, rcu_internal::MinActiveEpoch());
  ReclaimBelow(safe_below, /*grace_period=*/false);
}

absl::Status RcuDomain::Synchronize() {
  if (ReadSection::InSection()) {
    return absl::FailedPreconditionError(
        "Synchronize called inside a read section: it would wait for itself");
  }
  // Readers entering from now on read an epoch >= target and cannot see anything retired
  // before this point.
  const uint64_t target = rcu_internal::g_epoch.fetch_add(1, std::memory_order_seq_cst) + 1;
  rcu_internal::WriterBarrier();
  rcu_internal::WaitForReadersBefore(target);
  ReclaimBelow(target, /*grace_period=*/true);
  return absl::OkStatus();
}

void RcuDomain::ReclaimBelow(uint64_t safe_below, bool grace_period) {
  std::vector<Retired> ready;
  {
    internal::MutexLock lock(&mu_);
    auto end = std::find_if(pending_.begin(), pending_.end(),
                            [safe_below](const Retired& r) { return r.epoch >= safe_below; });
    ready.assign(std::make_move_iterator(pending_.begin()), std::make_move_iterator(end));
    pending_.erase(pending_.begin(), end);
    if (grace_period) {
      ++stats_.grace_periods;
    } else {
      ++stats_.polls;
    }
  }
  for (Retired& r : ready) std::move(r.reclaim)();
  if (!ready.empty()) {
    internal::MutexLock lock(&mu_);
    stats_.reclaimed += ready.size();
  }
}

RcuDomain::Stats RcuDomain::stats() const {
  internal::MutexLock lock(&mu_);
  return stats_;
}

size_t RcuDomain::pending() const {
  internal::MutexLock lock(&mu_);
  return pending_.size();
}

}  // namespace dbs
