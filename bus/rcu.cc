#include "dbs_device/bus/rcu.h"

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

ReaderState g_readers[RcuDomain::kMaxThreads];
std::atomic<size_t> g_reader_count{0};
internal::Mutex g_registry_mu;

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

// Makes every reader state's stores visible to the caller, and the caller's earlier stores
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

// Waits until every reader state is idle or entered at an epoch >= target.
void WaitForReadersBefore(uint64_t target) {
  const size_t n = g_reader_count.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    int spins = 0;
    for (;;) {
      const uint64_t lower = g_readers[i].lower.load(kLoadOrder);
      if (lower == 0 || lower >= target) break;
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

// Gives the reader state back when its thread exits.
struct SlotReleaser {
  bool armed = false;
  ~SlotReleaser() {
    ReaderState* reader = tls_reader;
    if (reader == nullptr) return;
    tls_reader = nullptr;
    reader->lower.store(0, std::memory_order_release);
    reader->in_use.store(false, std::memory_order_release);
  }
};
thread_local SlotReleaser tls_releaser;

// A deleter for RcuDomain::Call: runs the callback and frees it.
void RunCallback(void* p) {
  auto* callback = static_cast<absl::AnyInvocable<void() &&>*>(p);
  std::move (*callback)();
  delete callback;
}

}  // namespace

ReaderState* AcquireReaderForThisThread() {
  InitOnce();
  ReaderState* reader = nullptr;
  {
    internal::MutexLock lock(&g_registry_mu);
    const size_t n = g_reader_count.load(std::memory_order_relaxed);
    for (size_t i = 0; i < n && reader == nullptr; ++i) {
      if (!g_readers[i].in_use.load(std::memory_order_acquire)) reader = &g_readers[i];
    }
    if (reader == nullptr) {
      if (n == RcuDomain::kMaxThreads) {
        std::fprintf(stderr, "dbs::RcuDomain: more than %zu threads in read sections\n",
                     RcuDomain::kMaxThreads);
        std::abort();
      }
      reader = &g_readers[n];
      g_reader_count.store(n + 1, std::memory_order_release);
    }
    reader->lower.store(0, std::memory_order_relaxed);
    reader->upper.store(0, std::memory_order_relaxed);
    reader->in_use.store(true, std::memory_order_relaxed);
  }
  tls_releaser.armed = true;  // constructs it, so its destructor runs at thread exit
  tls_reader = reader;
  return reader;
}

}  // namespace rcu_internal

RcuDomain::RcuDomain(Options options)
    : options_(options), last_poll_(std::chrono::steady_clock::now()) {
  rcu_internal::InitOnce();
}

RcuDomain::~RcuDomain() {
  for (;;) {
    if (!ReadSection::InSection()) (void)Synchronize();
    std::vector<Retired> left;
    {
      internal::MutexLock lock(&mu_);
      left.swap(pending_);
      pending_bytes_ = 0;
    }
    if (left.empty()) return;
    RunDeleters(left);  // may retire more: the next round frees it
  }
}

RcuDomain& RcuDomain::Default() {
  static RcuDomain* const domain = new RcuDomain();
  return *domain;
}

bool RcuDomain::UsesMembarrier() {
  rcu_internal::InitOnce();
  return rcu_internal::g_readers_use_membarrier.load(std::memory_order_relaxed);
}

void RcuDomain::Retire(void* object, void (*deleter)(void*), size_t bytes, uint64_t birth) {
  const Retiree one{object, deleter, bytes, birth};
  Enqueue({&one, 1});
}

void RcuDomain::RetireAll(absl::Span<const Retiree> objects) {
  if (!objects.empty()) Enqueue(objects);
}

void RcuDomain::Call(absl::AnyInvocable<void() &&> callback) {
  auto* owned = new absl::AnyInvocable<void() &&>(std::move(callback));
  Retire(owned, &rcu_internal::RunCallback, sizeof(*owned));
}

void RcuDomain::Enqueue(absl::Span<const Retiree> objects) {
  bool poll = false;
  {
    internal::MutexLock lock(&mu_);
    // Readers that read the epoch after this advance cannot reach the objects: they were
    // unpublished before Retire. Those that read it before show an epoch <= this one.
    const uint64_t epoch = rcu_internal::g_epoch.fetch_add(1, std::memory_order_seq_cst);
    size_t bytes = 0;
    for (const Retiree& r : objects) {
      pending_.push_back(Retired{r.birth, epoch, r.object, r.deleter, r.bytes});
      bytes += r.bytes;
    }
    pending_bytes_ += bytes;
    stats_.retired += objects.size();
    stats_.retired_bytes += bytes;
    // Objects of unknown size still count, so that many small ones trigger a poll too.
    bytes_since_poll_ += std::max(bytes, objects.size() * sizeof(Retired));
    const auto now = std::chrono::steady_clock::now();
    const auto since = now - last_poll_;
    poll = (bytes_since_poll_ >= options_.poll_bytes && since >= options_.min_poll_interval) ||
           since >= options_.poll_interval || bytes_since_poll_ >= options_.max_unpolled_bytes;
  }
  if (poll) Poll();
}

void RcuDomain::Poll() {
  {
    internal::MutexLock lock(&mu_);
    last_poll_ = std::chrono::steady_clock::now();
    bytes_since_poll_ = 0;
    ++stats_.polls;
  }
  // Only what was retired before the barrier can be judged by it.
  const uint64_t retired_before = rcu_internal::g_epoch.load(std::memory_order_seq_cst);
  rcu_internal::WriterBarrier();
  // The reservations of the readers inside a section now. A reader that enters or moves its
  // reservation after the barrier loads pointers published after everything judged here
  // was unpublished, so it cannot reach any of it.
  std::vector<Reservation> reservations;
  const size_t n = rcu_internal::g_reader_count.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    const rcu_internal::ReaderState& reader = rcu_internal::g_readers[i];
    const uint64_t lower = reader.lower.load(rcu_internal::kLoadOrder);
    if (lower == 0) continue;
    const uint64_t upper = reader.upper.load(rcu_internal::kLoadOrder);
    reservations.push_back(Reservation{lower, std::max(lower, upper)});
  }
  Reclaim(retired_before, reservations, /*grace_period=*/false);
}

absl::Status RcuDomain::Synchronize() {
  if (ReadSection::InSection()) {
    return absl::FailedPreconditionError(
        "Synchronize called inside a read section: it would wait for itself");
  }
  // Readers entering from now on read an epoch >= target and cannot reach anything
  // retired before this point.
  const uint64_t target = rcu_internal::g_epoch.fetch_add(1, std::memory_order_seq_cst) + 1;
  rcu_internal::WriterBarrier();
  rcu_internal::WaitForReadersBefore(target);
  Reclaim(target, {}, /*grace_period=*/true);
  return absl::OkStatus();
}

void RcuDomain::Reclaim(uint64_t retired_before, absl::Span<const Reservation> reservations,
                        bool grace_period) {
  // Reachable by a reader whose reservation overlaps the object's lifetime [birth, retire].
  auto reachable = [reservations](const Retired& r) {
    for (const Reservation& res : reservations) {
      if (r.retire >= res.lower && r.birth <= res.upper) return true;
    }
    return false;
  };
  std::vector<Retired> ready;
  {
    internal::MutexLock lock(&mu_);
    size_t end = 0;
    while (end < pending_.size() && pending_[end].retire < retired_before) ++end;
    // One pass over what may be judged: the reachable ones are compacted to the front in
    // their order (pending_ stays sorted by retirement), the rest are taken.
    size_t kept = 0;
    ready.reserve(end);
    for (size_t i = 0; i < end; ++i) {
      if (reachable(pending_[i])) {
        pending_[kept++] = pending_[i];
      } else {
        ready.push_back(pending_[i]);
        pending_bytes_ -= pending_[i].bytes;
      }
    }
    pending_.erase(pending_.begin() + kept, pending_.begin() + end);
    if (grace_period) ++stats_.grace_periods;
  }
  RunDeleters(ready);
}

void RcuDomain::RunDeleters(std::vector<Retired>& ready) {
  if (ready.empty()) return;
  size_t bytes = 0;
  for (const Retired& r : ready) {
    bytes += r.bytes;
    r.deleter(r.object);
  }
  internal::MutexLock lock(&mu_);
  stats_.reclaimed += ready.size();
  stats_.reclaimed_bytes += bytes;
}

RcuDomain::Stats RcuDomain::stats() const {
  internal::MutexLock lock(&mu_);
  return stats_;
}

size_t RcuDomain::pending() const {
  internal::MutexLock lock(&mu_);
  return pending_.size();
}

size_t RcuDomain::pending_bytes() const {
  internal::MutexLock lock(&mu_);
  return pending_bytes_;
}

}  // namespace dbs
