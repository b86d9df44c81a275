// manager/internal/held_lines.h — interrupt lines held back until released, for
// RestoreManaged (manager/managed_device.h): a device restored with its line high must not
// raise it before DeviceManager::Restore has succeeded.
//
// Hold(arg) turns an interrupt line (a callable taking exactly one bool: a
// std::function<void(bool)>, a function pointer, a non-generic lambda) into one that
// remembers the last level set until Release, which passes it on; anything else passes
// unchanged. Thread-safety: used under the device's lock only (the device signals under
// it, and ManagedDevice::Resume releases under it), so it has no lock of its own.

#ifndef DBS_DEVICE_MANAGER_INTERNAL_HELD_LINES_H_
#define DBS_DEVICE_MANAGER_INTERNAL_HELD_LINES_H_

#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace dbs {
namespace manager_internal {

// True for a callable taking exactly one bool and returning nothing: an interrupt line
// (std::function<void(bool)>, a function pointer, a lambda that is not generic).
template <typename F>
struct IsLineSignature : std::false_type {};
template <typename C>
struct IsLineSignature<void (C::*)(bool) const> : std::true_type {};
template <typename C>
struct IsLineSignature<void (C::*)(bool)> : std::true_type {};
template <typename Arg>
constexpr bool IsInterruptLine() {
  if constexpr (std::is_pointer_v<Arg>) {
    return std::is_same_v<Arg, void (*)(bool)>;
  } else if constexpr (requires { &Arg::operator(); }) {
    return IsLineSignature<decltype(&Arg::operator())>::value;
  } else {
    return false;
  }
}

// Interrupt lines held back until released: a level set before Release is remembered and
// passed on by it. Used under the device's lock only (the device signals under it, and
// ManagedDevice::Resume releases under it), so it needs no lock of its own.
class HeldLines {
 public:
  // An interrupt line becomes a held one; anything else passes unchanged.
  template <typename Arg>
  auto Hold(Arg arg) {
    if constexpr (IsInterruptLine<Arg>()) {
      std::function<void(bool)> target(std::move(arg));
      if (!target) return target;
      auto line = std::make_shared<Line>(Line{std::move(target), std::nullopt, false});
      lines_.push_back(line);
      return std::function<void(bool)>([line](bool level) {
        if (line->released) {
          line->target(level);
        } else {
          line->pending = level;
        }
      });
    } else {
      return arg;
    }
  }
  void Release() {
    for (const std::shared_ptr<Line>& line : lines_) {
      line->released = true;
      if (line->pending.has_value()) line->target(*line->pending);
      line->pending.reset();
    }
  }

 private:
  struct Line {
    std::function<void(bool)> target;
    std::optional<bool> pending;
    bool released = false;
  };
  std::vector<std::shared_ptr<Line>> lines_;
};

}  // namespace manager_internal

}  // namespace dbs

#endif  // DBS_DEVICE_MANAGER_INTERNAL_HELD_LINES_H_
