// device/internal/locked_device.h — a DeviceIo (or a subclass of it) whose handlers call a
// DeviceIoMut held under a mutex: what MutexDevice and ManagedDevice share.

#ifndef DBS_DEVICE_DEVICE_INTERNAL_LOCKED_DEVICE_H_
#define DBS_DEVICE_DEVICE_INTERNAL_LOCKED_DEVICE_H_

#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/types/span.h"
#include "dbs_device/base/mutex.h"
#include "dbs_device/device/device_io.h"

namespace dbs::device_internal {

template <typename Base, typename T>
class LockedDevice : public Base {
  static_assert(std::is_base_of_v<DeviceIo, Base>, "LockedDevice is a DeviceIo");
  static_assert(std::is_base_of_v<DeviceIoMut, T>,
                "MutexDevice<T> and ManagedDevice<T> wrap a DeviceIoMut; a DeviceIo needs no "
                "wrapper (register it as it is, or derive it from dbs::Device to place it)");

 public:
  template <typename... Args>
  explicit LockedDevice(Args&&... args) : device_(std::forward<Args>(args)...) {}

  void Read(IoAddress base, IoAddress offset, absl::Span<uint8_t> data) override {
    internal::MutexLock lock(&mu_);
    device_.Read(base, offset, data);
  }
  void Write(IoAddress base, IoAddress offset, absl::Span<const uint8_t> data) override {
    internal::MutexLock lock(&mu_);
    device_.Write(base, offset, data);
  }
  void PioRead(PioAddress base, PioAddress offset, absl::Span<uint8_t> data) override {
    internal::MutexLock lock(&mu_);
    device_.PioRead(base, offset, data);
  }
  void PioWrite(PioAddress base, PioAddress offset, absl::Span<const uint8_t> data) override {
    internal::MutexLock lock(&mu_);
    device_.PioWrite(base, offset, data);
  }

  // Runs `f(T&)` with the device locked (to feed input, read state, ...).
  template <typename F>
  decltype(auto) WithLock(F&& f) {
    internal::MutexLock lock(&mu_);
    return std::forward<F>(f)(device_);
  }
  template <typename F>
  decltype(auto) WithLock(F&& f) const {
    internal::MutexLock lock(&mu_);
    return std::forward<F>(f)(device_);
  }

 protected:
  mutable internal::Mutex mu_;
  T device_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dbs::device_internal

#endif  // DBS_DEVICE_DEVICE_INTERNAL_LOCKED_DEVICE_H_
