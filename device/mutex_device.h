// device/mutex_device.h — makes a DeviceIoMut a DeviceIo by serialising every call on a
// mutex, like the original crate's `impl DeviceIo for Mutex<T: DeviceIoMut>`.
//
//   auto uart = std::make_shared<dbs::MutexDevice<dbs::Serial16550>>(output, irq);
//   absl::Status s = io_manager.RegisterDeviceIo(uart, {dbs::PioRange{0x3f8, 8}});
//   uart->WithLock([&](dbs::Serial16550& s) { s.EnqueueInput(bytes); });
//
// A handler holds the mutex only for its call. Cost: one uncontended lock and unlock per
// access. A device must never call back into itself from its own handler (that would
// deadlock, as with any non-recursive mutex). To place the device with DeviceManager, wrap
// it in ManagedDevice<T> (manager/managed_device.h) instead.
//
// Thread-safety: thread-safe.

#ifndef DBS_DEVICE_DEVICE_MUTEX_DEVICE_H_
#define DBS_DEVICE_DEVICE_MUTEX_DEVICE_H_

#include <utility>

#include "dbs_device/device/device_io.h"
#include "dbs_device/device/internal/locked_device.h"

namespace dbs {

template <typename T>
class MutexDevice : public device_internal::LockedDevice<DeviceIo, T> {
  using Locked = device_internal::LockedDevice<DeviceIo, T>;

 public:
  // Constructs the wrapped device in place from `args`.
  template <typename... Args>
  explicit MutexDevice(Args&&... args) : Locked(std::forward<Args>(args)...) {}

  DeviceResources GetAssignedResources() const override {
    return this->WithLock([](const T& d) { return d.GetAssignedResources(); });
  }
  RangeOptions GetRangeOptions(const Resource& range) const override {
    return this->WithLock([&range](const T& d) { return d.GetRangeOptions(range); });
  }
  DeviceResources GetTrappedIoResources() const override {
    return this->WithLock([](const T& d) { return d.GetTrappedIoResources(); });
  }
};

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICE_MUTEX_DEVICE_H_
