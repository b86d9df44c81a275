// manager/internal/held_lines.h — interrupt lines held back until released, for
// RestoreManaged (manager/managed_device.h): a device restored with its line high must not
// raise it before DeviceManager::Restore has succeeded.
//
// Hold(arg) turns an interrupt line into one that remembers the last level set until
// Release, which passes it on. An interrupt line is an InterruptLine, or a callable whose
// one signature is void(bool) (a std::function<void(bool)>, a function pointer, a lambda
// taking a bool). A generic callable that accepts a bool cannot be told from a line and is
// refused at compile time; anything else passes unchanged.
//
// Thread-safety: used under the device's lock only (the device signals under it, and
// ManagedDevice::Resume releases under it), so it has no lock of its own.

#ifndef DBS_DEVICE_MANAGER_INTERNAL_HELD_LINES_H_
#define DBS_DEVICE_MANAGER_INTERNAL_HELD_LINES_H_

#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "dbs_device/device/interrupt_line.h"

namespace dbs::manager_internal {

template <typename F>
struct IsLineSignature : std::false_type {};
template <typename C>
struct IsLineSignature<void (C::*)(bool) const> : std::true_type {};
template <typename C>
struct IsLineSignature<void (C::*)(bool)> : std::true_type {};

// True for an interrupt line (see above).
template <typename Arg>
constexpr bool IsInterruptLine() {
  if constexpr (std::is_same_v<Arg, InterruptLine>) {
    return true;
  } else if constexpr (std::is_pointer_v<Arg>) {
    return std::is_same_v<Arg, void (*)(bool)>;
  } else if constexpr (requires { &Arg::operator(); }) {
    return IsLineSignature<decltype(&Arg::operator())>::value;
  } else {
    return false;
  }
}

// True for a callable that takes a bool but has no single signature (a generic lambda):
// it might be an interrupt line, and Hold cannot tell.
template <typename Arg>
constexpr bool IsAmbiguousLine() {
  if constexpr (std::is_class_v<Arg> && std::is_invocable_v<Arg&, bool>) {
    return !requires { &Arg::operator(); };
  } else {
    return false;
  }
}

class HeldLines {
 public:
  // An interrupt line becomes a held one; anything else passes unchanged.
  template <typename Arg>
  auto Hold(Arg arg) {
    static_assert(!IsAmbiguousLine<Arg>(),
                  "RestoreManaged cannot tell whether this generic lambda is an interrupt line: "
                  "pass it as dbs::InterruptLine(...) to have it held until the restore has "
                  "succeeded, or give its parameter a type other than auto");
    if constexpr (IsInterruptLine<Arg>()) {
      InterruptLine target(std::move(arg));
      if (!target) return target;
      auto line = std::make_shared<Line>(Line{std::move(target), std::nullopt, false});
      lines_.push_back(line);
      return InterruptLine([line](bool level) {
        if (line->released) {
          line->target.Set(level);
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
      if (line->pending.has_value()) line->target.Set(*line->pending);
      line->pending.reset();
    }
  }

 private:
  struct Line {
    InterruptLine target;
    std::optional<bool> pending;
    bool released = false;
  };
  std::vector<std::shared_ptr<Line>> lines_;
};

}  // namespace dbs::manager_internal

#endif  // DBS_DEVICE_MANAGER_INTERNAL_HELD_LINES_H_
