// manager/managed_device.h — makes a DeviceIoMut a Device that DeviceManager can place.
//
//   auto uart = std::make_shared<dbs::ManagedDevice<dbs::Serial16550>>(
//       "ttyS0", dbs::Serial16550::Constraints(0x3f8, 4), output, irq);
//   absl::StatusOr<dbs::DeviceId> id = devices.AddDevice(uart);
//   uart->WithLock([&](dbs::Serial16550& s) { s.EnqueueInput(bytes); });
//
// Every handler call is serialised on one mutex (as MutexDevice does); the name and the
// resource constraints are given at construction, and the resources received are kept for
// GetAssignedResources. GetTrappedIoResources forwards to T's, as MutexDevice does, and
// falls back to the assigned resources when T's is empty.
//
// Thread-safety: thread-safe.

#ifndef DBS_DEVICE_MANAGER_MANAGED_DEVICE_H_
#define DBS_DEVICE_MANAGER_MANAGED_DEVICE_H_

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dbs_device/manager/device_io.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

template <typename T>
class ManagedDevice : public manager_internal::LockedDevice<Device, T> {
  using Locked = manager_internal::LockedDevice<Device, T>;

 public:
  // Constructs the wrapped device in place from `args`.
  template <typename... Args>
  ManagedDevice(std::string name, std::vector<ResourceConstraint> constraints, Args&&... args)
      : Locked(std::forward<Args>(args)...),
        name_(std::move(name)),
        constraints_(std::move(constraints)) {}

  std::string name() const override { return name_; }
  std::vector<ResourceConstraint> GetResourceConstraints() const override { return constraints_; }
  // What `T` traps, when it says (a T that overrides GetTrappedIoResources to trap a part of
  // what it was given); otherwise everything assigned, as for any Device.
  DeviceResources GetTrappedIoResources() const override {
    DeviceResources trapped = this->WithLock([](const T& d) { return d.GetTrappedIoResources(); });
    return trapped.empty() ? Device::GetTrappedIoResources() : trapped;
  }

 private:
  const std::string name_;
  const std::vector<ResourceConstraint> constraints_;
};

}  // namespace dbs

#endif  // DBS_DEVICE_MANAGER_MANAGED_DEVICE_H_
