// manager/managed_device.h — makes a DeviceIoMut a Device that DeviceManager can place.
//
//   auto uart = std::make_shared<dbs::ManagedDevice<dbs::Serial16550>>(
//       "ttyS0", dbs::Serial16550::Constraints(0x3f8, 4), output, irq);
//   auto uart = dbs::MakeManaged<dbs::Serial16550>(output, irq);   // kKind, Constraints()
//   absl::StatusOr<dbs::DeviceId> id = devices.AddDevice(uart);
//   uart->WithLock([&](dbs::Serial16550& s) { s.EnqueueInput(bytes); });
//
// Every handler call is serialised on one mutex (as MutexDevice does); the name and the
// resource constraints are given at construction, and the resources received are kept for
// GetAssignedResources. GetTrappedIoResources forwards to T's, as MutexDevice does, and
// falls back to the assigned resources when T's is empty.
//
// SNAPSHOTS. When T says what it is (`static constexpr absl::string_view kKind`) and has a
// `state()` whose type has `Encode()` and `static Decode(bytes)` (the devices of devices/
// do), SaveState saves T::kKind and state().Encode() under the lock, and
// RestoreManaged<T>(args...) is the DeviceFactory restorer that brings it back:
//
//   dbs::DeviceFactory factory;
//   (void)factory.Register(dbs::Serial16550::kKind,
//                          dbs::RestoreManaged<dbs::Serial16550>(output, irq));
//
// which constructs T(decoded state, args...) named as recorded, with ExactConstraints of
// its recorded resources. Each interrupt line among `args` (a callable taking one bool:
// std::function<void(bool)>, a function pointer or a non-generic lambda) is held back
// until Resume: a device restored with its line high raises it only once
// DeviceManager::Restore has succeeded, and a restore that fails raises nothing.
//
// Thread-safety: thread-safe.

#ifndef DBS_DEVICE_MANAGER_MANAGED_DEVICE_H_
#define DBS_DEVICE_MANAGER_MANAGED_DEVICE_H_

#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dbs_device/device/device.h"
#include "dbs_device/device/internal/locked_device.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/internal/held_lines.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

// True when ManagedDevice<T> can be saved and restored (see SNAPSHOTS above).
template <typename T>
inline constexpr bool kSnapshotCapable = requires(const T& device, absl::string_view bytes) {
  { T::kKind } -> std::convertible_to<absl::string_view>;
  { device.state().Encode() } -> std::convertible_to<std::string>;
  std::remove_cvref_t<decltype(device.state())>::Decode(bytes);
};

template <typename T>
class ManagedDevice : public device_internal::LockedDevice<Device, T> {
  using Locked = device_internal::LockedDevice<Device, T>;

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
  RangeOptions GetRangeOptions(const Resource& range) const override {
    return this->WithLock([&range](const T& d) { return d.GetRangeOptions(range); });
  }
  // Runs what OnResume set, under the device's lock.
  void Resume() override {
    this->WithLock([this](T&) {
      if (on_resume_) on_resume_();
    });
  }
  // What Resume runs (RestoreManaged releases the held interrupt lines with it).
  void OnResume(std::function<void()> f) { on_resume_ = std::move(f); }

  absl::StatusOr<SavedState> SaveState() const override {
    if constexpr (kSnapshotCapable<T>) {
      return this->WithLock([](const T& d) {
        return SavedState{std::string(T::kKind), d.state().Encode()};
      });
    } else {
      return Device::SaveState();
    }
  }

 private:
  const std::string name_;
  const std::vector<ResourceConstraint> constraints_;
  std::function<void()> on_resume_;
};

// A ManagedDevice<T> named T::kKind and placed by T::Constraints() (the devices of
// devices/ have both), T constructed from `args`:
//
//   absl::StatusOr<dbs::DeviceId> id =
//       model.devices().AddDevice(dbs::MakeManaged<dbs::I8042>(reset));
template <typename T, typename... Args>
requires requires {
  { T::kKind } -> std::convertible_to<absl::string_view>;
  { T::Constraints() } -> std::convertible_to<std::vector<ResourceConstraint>>;
}
std::shared_ptr<ManagedDevice<T>> MakeManaged(Args&&... args) {
  return std::make_shared<ManagedDevice<T>>(std::string(T::kKind), T::Constraints(),
                                            std::forward<Args>(args)...);
}

// The DeviceFactory restorer of ManagedDevice<T>: T(decoded state, args...). The arguments
// (the outside world: callbacks, clocks) are copied into the restorer.
template <typename T, typename... Args>
DeviceFactory::Restorer RestoreManaged(Args... args) {
  static_assert(kSnapshotCapable<T>, "T needs kKind, state().Encode() and State::Decode");
  return [args...](const DeviceRecord& record) -> absl::StatusOr<std::shared_ptr<Device>> {
    using State = std::remove_cvref_t<decltype(std::declval<const T&>().state())>;
    absl::StatusOr<State> state = State::Decode(record.state);
    if (!state.ok()) return state.status();
    auto held = std::make_shared<manager_internal::HeldLines>();
    auto device = std::make_shared<ManagedDevice<T>>(
        record.name, ExactConstraints(record.allocated, record.shared_legacy_irq), *state,
        held->Hold(args)...);
    device->OnResume([held] { held->Release(); });
    return device;
  };
}

}  // namespace dbs

#endif  // DBS_DEVICE_MANAGER_MANAGED_DEVICE_H_
