// manager/managed_device.h — makes a DeviceIoMut a Device that DeviceManager can place.
//
//   auto uart = std::make_shared<dbs::ManagedDevice<dbs::Serial16550>>(
//       "ttyS0", dbs::Serial16550::Constraints(0x3f8, 4), output, irq);
//   absl::StatusOr<dbs::DeviceId> id = devices.AddDevice(uart);
//   uart->WithLock([&](dbs::Serial16550& s) { s.EnqueueInput(bytes); });
//
// Every handler call is serialised on one mutex (as MutexDevice does); the name and the
// resource constraints are given at construction, and the resources received are kept for
// GetAssignedResources.
//
// Thread-safety: thread-safe.

#ifndef DBS_DEVICE_MANAGER_MANAGED_DEVICE_H_
#define DBS_DEVICE_MANAGER_MANAGED_DEVICE_H_

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "manager/device_io.h"
#include "manager/device_manager.h"
#include "resources/internal/mutex.h"
#include "resources/resources.h"

namespace dbs {

template <typename T>
class ManagedDevice : public Device {
  static_assert(std::is_base_of_v<DeviceIoMut, T>, "ManagedDevice wraps a DeviceIoMut");

 public:
  // Constructs the wrapped device in place from `args`.
  template <typename... Args>
  ManagedDevice(std::string name, std::vector<ResourceConstraint> constraints, Args&&... args)
      : name_(std::move(name)),
        constraints_(std::move(constraints)),
        device_(std::forward<Args>(args)...) {}

  std::string name() const override { return name_; }
  std::vector<ResourceConstraint> GetResourceConstraints() const override { return constraints_; }

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

  // Runs `f(T&)` with the device locked.
  template <typename F>
  decltype(auto) WithLock(F&& f) {
    internal::MutexLock lock(&mu_);
    return std::forward<F>(f)(device_);
  }

 private:
  const std::string name_;
  const std::vector<ResourceConstraint> constraints_;
  internal::Mutex mu_;
  T device_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dbs

#endif  // DBS_DEVICE_MANAGER_MANAGED_DEVICE_H_
