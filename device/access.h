// device/access.h — what a device declares about the accesses its ranges take, and what it
// can learn about the access it is handling.
//
//   // A device with 4-byte registers that takes 1- to 4-byte aligned accesses:
//   dbs::RangeOptions GetRangeOptions(const dbs::Resource&) const override {
//     return {.rules = {.max_size = 4, .unaligned = false, .impl_min_size = 4,
//                       .impl_max_size = 4}};
//   }
//   // In a handler: which vCPU is accessing.
//   const uint32_t cpu = dbs::CurrentAccess().vcpu;
//
// AccessRules say, per range, which accesses the device accepts (`min_size` to `max_size`
// bytes, aligned to their size unless `unaligned`) and which sizes its handlers implement
// (`impl_min_size` to `impl_max_size`). IoManager refuses an access the rules do not accept
// (kInvalidArgument naming the rule, the device not called). An accepted access wider than
// `impl_max_size` reaches the handler as `impl_max_size` pieces in ascending address order
// (a read assembled little-endian); one narrower than `impl_min_size` as one call of
// `impl_min_size` bytes at the offset aligned down to that size, a read's bytes taken from
// it and a write's other bytes zero. QEMU (access_with_adjusted_size) widens at the
// access's own offset instead, which can run past the end of the range: here a widened
// access stays inside it, so a range with rules must be a multiple of `impl_min_size`
// long. On such a range accesses must be 1, 2, 4 or 8 bytes. The default rules accept every
// access unchanged, and a range with them pays nothing for this.
//
// RangeOptions are read once, when the range is registered (DeviceIo::GetRangeOptions),
// never per dispatch. `priority` orders overlapping ranges (overlays): ranges of equal
// priority never overlap, and the highest priority holding an access's first byte takes
// the whole access, which must lie inside it (kOutOfRange otherwise).
//
// AccessContext describes the access being dispatched: the vCPU index the VMM passed to
// IoManager's dispatch call. CurrentAccess() returns it inside a handler; outside one, or
// inside a dispatch called without a context, it is the context of the innermost
// enclosing dispatch that had one, else a default-constructed one.
//
// Thread-safety: plain values; CurrentAccess() reads the calling thread's own state.

#ifndef DBS_DEVICE_DEVICE_ACCESS_H_
#define DBS_DEVICE_DEVICE_ACCESS_H_

#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/status/status.h"

namespace dbs {

// Sizes in bytes, each a power of two from 1 to 8.
struct AccessRules {
  uint8_t min_size = 1;  // the accesses the device accepts
  uint8_t max_size = 8;
  bool unaligned = true;      // whether it accepts an access not aligned to its size
  uint8_t impl_min_size = 1;  // the sizes its handlers implement
  uint8_t impl_max_size = 8;

  // True for the rules every range has unless its device says otherwise.
  bool is_default() const { return *this == AccessRules{}; }
  // kInvalidArgument naming the rule that is malformed.
  absl::Status Validate() const;
  friend bool operator==(const AccessRules&, const AccessRules&) = default;
};

struct RangeOptions {
  // Overlapping ranges: the highest priority holding an access's first byte takes it.
  int32_t priority = 0;
  AccessRules rules;
  friend bool operator==(const RangeOptions&, const RangeOptions&) = default;
};

// The access being dispatched. Room for more fields after `vcpu`.
struct AccessContext {
  uint32_t vcpu = 0;  // the index the VMM gave its vCPU
};

namespace device_internal {
inline constexpr AccessContext kNoContext{};
inline constinit thread_local const AccessContext* tls_access ABSL_ATTRIBUTE_INITIAL_EXEC =
    &kNoContext;
}  // namespace device_internal

// The context of the access this thread is dispatching (see above).
inline const AccessContext& CurrentAccess() { return *device_internal::tls_access; }

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICE_ACCESS_H_
