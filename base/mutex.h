// base/mutex.h — the mutex every layer of dbs_device locks with.
//
// A std::mutex with clang thread-safety annotations (ABSL_LOCKABLE), so members can be
// ABSL_GUARDED_BY it and -Wthread-safety checks every access. Not absl::Mutex: Debian's
// Abseil is prebuilt without TSan instrumentation, so TSan would report races on state that
// absl::Mutex correctly guards (TSan then reports races on state
// that absl::Mutex guards correctly). Internal to this repository.

#ifndef DBS_DEVICE_BASE_MUTEX_H_
#define DBS_DEVICE_BASE_MUTEX_H_

#include <mutex>

#include "absl/base/thread_annotations.h"

namespace dbs::internal {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return mu_.try_lock(); }

  // For std::condition_variable_any and std::unique_lock.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds `mu` for the lifetime of the scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace dbs::internal

#endif  // DBS_DEVICE_BASE_MUTEX_H_
