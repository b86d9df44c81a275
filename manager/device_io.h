// manager/device_io.h — the interfaces an emulated device implements.
//
// A device receives guest accesses to the ranges it was registered at as (range base,
// offset inside the range, data), never as an absolute address, so the same device works
// wherever its ranges are placed (and wherever a PCI BAR is moved).
//
// Two interfaces, as in the original crate:
// - DeviceIo: handlers called concurrently, from any number of vCPU threads at once. A
//   device that implements it does its own locking (or needs none).
// - DeviceIoMut: handlers called one at a time. MutexDevice<T> wraps any DeviceIoMut in a
//   mutex and makes it a DeviceIo, like the original's `impl DeviceIo for Mutex<T>`.
//
// Handlers of both run inside an RCU read section (bus/rcu.h): they must not block on
// anything a writer holds while it waits for a grace period. They may register and
// unregister devices through the IoManager, and dispatch to other devices (nested
// dispatch); IoManager::Synchronize from inside a handler returns kFailedPrecondition.
//
// Defaults, as in the original: every handler does nothing (a read leaves `data` as the
// caller filled it); GetAssignedResources() is empty; GetTrappedIoResources() returns the
// assigned resources.
//
// A device's destructor runs with no lock of this library held, on the thread that
// reclaims it (see manager/io_manager.h, "WHERE DEVICES DIE"): it may call the managers.
//
// Thread-safety: DeviceIo implementations must be thread-safe; DeviceIoMut ones need not
// be, and MutexDevice serialises every call.

#ifndef DBS_DEVICE_MANAGER_DEVICE_IO_H_
#define DBS_DEVICE_MANAGER_DEVICE_IO_H_

#include <cstdint>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/types/span.h"
#include "dbs_device/base/mutex.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

// A device whose handlers may be called concurrently.
class DeviceIo {
 public:
  virtual ~DeviceIo() = default;

  // An MMIO read of data.size() bytes at `base` + `offset`; fill `data`.
  virtual void Read(IoAddress /*base*/, IoAddress /*offset*/, absl::Span<uint8_t> /*data*/) {}
  // An MMIO write of `data` at `base` + `offset`.
  virtual void Write(IoAddress /*base*/, IoAddress /*offset*/, absl::Span<const uint8_t> /*data*/) {
  }
  // A port read of data.size() bytes at `base` + `offset`; fill `data`.
  virtual void PioRead(PioAddress /*base*/, PioAddress /*offset*/, absl::Span<uint8_t> /*data*/) {}
  // A port write of `data` at `base` + `offset`.
  virtual void PioWrite(PioAddress /*base*/, PioAddress /*offset*/,
                        absl::Span<const uint8_t> /*data*/) {}

  // The resources the device was given.
  virtual DeviceResources GetAssignedResources() const { return {}; }
  // The PIO/MMIO ranges whose accesses should reach the handlers; by default all assigned.
  virtual DeviceResources GetTrappedIoResources() const { return GetAssignedResources(); }
};

// A device whose handlers are called one at a time. Same handlers as DeviceIo.
class DeviceIoMut {
 public:
  virtual ~DeviceIoMut() = default;

  virtual void Read(IoAddress /*base*/, IoAddress /*offset*/, absl::Span<uint8_t> /*data*/) {}
  virtual void Write(IoAddress /*base*/, IoAddress /*offset*/, absl::Span<const uint8_t> /*data*/) {
  }
  virtual void PioRead(PioAddress /*base*/, PioAddress /*offset*/, absl::Span<uint8_t> /*data*/) {}
  virtual void PioWrite(PioAddress /*base*/, PioAddress /*offset*/,
                        absl::Span<const uint8_t> /*data*/) {}

  virtual DeviceResources GetAssignedResources() const { return {}; }
  virtual DeviceResources GetTrappedIoResources() const { return GetAssignedResources(); }
};

namespace manager_internal {

// A `Base` (DeviceIo or one of its subclasses) whose handlers call a DeviceIoMut `T` held
// under a mutex. Shared by MutexDevice and ManagedDevice.
template <typename Base, typename T>
class LockedDevice : public Base {
  static_assert(std::is_base_of_v<DeviceIo, Base>, "LockedDevice is a DeviceIo");
  static_assert(std::is_base_of_v<DeviceIoMut, T>, "LockedDevice wraps a DeviceIoMut");

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

}  // namespace manager_internal

// Makes a DeviceIoMut a DeviceIo by serialising every call on a mutex.
//
//   auto uart = std::make_shared<dbs::MutexDevice<dbs::Serial16550>>(output, irq);
//   io_manager.RegisterDeviceIo(uart, resources);
//   uart->WithLock([](dbs::Serial16550& s) { s.EnqueueInput(bytes); });
//
// Handlers hold the mutex only for the call; never call back into the same device from its
// own handler (that would deadlock, as with any non-recursive mutex).
template <typename T>
class MutexDevice : public manager_internal::LockedDevice<DeviceIo, T> {
  using Locked = manager_internal::LockedDevice<DeviceIo, T>;

 public:
  // Constructs the wrapped device in place.
  template <typename... Args>
  explicit MutexDevice(Args&&... args) : Locked(std::forward<Args>(args)...) {}

  DeviceResources GetAssignedResources() const override {
    return this->WithLock([](const T& d) { return d.GetAssignedResources(); });
  }
  DeviceResources GetTrappedIoResources() const override {
    return this->WithLock([](const T& d) { return d.GetTrappedIoResources(); });
  }
};

}  // namespace dbs

#endif  // DBS_DEVICE_MANAGER_DEVICE_IO_H_
