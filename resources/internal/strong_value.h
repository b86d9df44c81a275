// resources/internal/strong_value.h — the strong integer type behind resources/address.h.

#ifndef DBS_DEVICE_RESOURCES_INTERNAL_STRONG_VALUE_H_
#define DBS_DEVICE_RESOURCES_INTERNAL_STRONG_VALUE_H_

#include <compare>

namespace dbs::resources_internal {

// A strong integer type: Tag keeps IoAddress and IoSize from mixing.
template <typename Raw, typename Tag>
class StrongValue {
 public:
  using RawType = Raw;

  constexpr StrongValue() = default;
  // Implicit from the raw type, so `PioRange{0x3f8, 8}` reads naturally; list
  // initialisation still rejects a narrowing run-time value.
  constexpr StrongValue(Raw raw) : raw_(raw) {}  // NOLINT(google-explicit-constructor)

  constexpr Raw raw_value() const { return raw_; }

  friend constexpr bool operator==(StrongValue, StrongValue) = default;
  friend constexpr auto operator<=>(StrongValue, StrongValue) = default;

 private:
  Raw raw_ = 0;
};

struct IoAddressTag;
struct IoSizeTag;
struct PioAddressTag;
struct PioSizeTag;

}  // namespace dbs::resources_internal

#endif  // DBS_DEVICE_RESOURCES_INTERNAL_STRONG_VALUE_H_
