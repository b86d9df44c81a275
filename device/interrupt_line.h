// device/interrupt_line.h — the output a device drives an interrupt with.
//
// A device is given an InterruptLine and calls Set(level) on every change of level; the
// VMM decides what a level means (a KVM_IRQ_LINE ioctl, an irqfd, a test's counter). It is
// built from any callable taking the level:
//
//   dbs::Serial16550 uart(output, [&](bool level) { vm.SetIrq(4, level); });
//
// Being a type of its own, not a std::function<void(bool)> that any callable converts to,
// an interrupt line can be told apart from a device's other callbacks at compile time:
// RestoreManaged<T> (manager/managed_device.h) holds every InterruptLine among its
// arguments until the restore has succeeded.
//
// Cost: a std::function call per change of level. Thread-safety: Set runs the callable on
// the calling thread (a vCPU thread inside a dispatch, for the bundled devices); the
// callable must be safe there.

#ifndef DBS_DEVICE_DEVICE_INTERRUPT_LINE_H_
#define DBS_DEVICE_DEVICE_INTERRUPT_LINE_H_

#include <concepts>
#include <functional>
#include <type_traits>
#include <utility>

namespace dbs {

class InterruptLine {
 public:
  // A line connected to nothing: Set does nothing.
  InterruptLine() = default;
  // A line that calls `set(level)`. Implicit, so that a lambda or a
  // std::function<void(bool)> passes where a line is expected; an empty std::function
  // gives a line connected to nothing.
  template <typename F>
  requires(!std::same_as<std::remove_cvref_t<F>, InterruptLine> && std::invocable<F&, bool>)
      InterruptLine(F&& set)  // NOLINT(google-explicit-constructor)
      : set_(std::forward<F>(set)) {}

  // Drives the line to `level`.
  void Set(bool level) const {
    if (set_) set_(level);
  }
  void operator()(bool level) const { Set(level); }
  // True when connected.
  explicit operator bool() const { return static_cast<bool>(set_); }

 private:
  std::function<void(bool)> set_;
};

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICE_INTERRUPT_LINE_H_
