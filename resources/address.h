// resources/address.h — addresses and sizes as small strong types.
//
// IoAddress and IoSize are 64-bit (MMIO and the generic bus, offsets inside a range);
// PioAddress and PioSize are 16-bit (x86 port I/O). Each is built from its raw value
// (`PioAddress{0x3f8}`), compares, prints in hex and exposes `raw_value()`. A 16-bit value
// widens implicitly to the 64-bit one; narrowing is explicit and checked
// (`PioAddress::FromIoAddress` returns kOutOfRange above 0xffff), so an address is never
// silently truncated. An IoAddress and an IoSize do not mix.
//
// Cost: none beyond the raw integer. Thread-safety: plain values.

#ifndef DBS_DEVICE_RESOURCES_ADDRESS_H_
#define DBS_DEVICE_RESOURCES_ADDRESS_H_

#include <cstdint>
#include <ostream>

#include "absl/status/statusor.h"
#include "dbs_device/resources/internal/strong_value.h"

namespace dbs {

// An address on the 64-bit I/O bus (MMIO, or an offset inside a range).
class IoAddress
    : public resources_internal::StrongValue<uint64_t, resources_internal::IoAddressTag> {
 public:
  using StrongValue::StrongValue;
};

// A size on the 64-bit I/O bus.
class IoSize : public resources_internal::StrongValue<uint64_t, resources_internal::IoSizeTag> {
 public:
  using StrongValue::StrongValue;
};

// An x86 I/O port number.
class PioAddress
    : public resources_internal::StrongValue<uint16_t, resources_internal::PioAddressTag> {
 public:
  using StrongValue::StrongValue;

  // Checked narrowing: kOutOfRange if `address` does not fit in 16 bits.
  static absl::StatusOr<PioAddress> FromIoAddress(IoAddress address);

  // Widening never fails.
  constexpr operator IoAddress() const { return IoAddress{raw_value()}; }  // NOLINT
};

// A size in x86 port space.
class PioSize : public resources_internal::StrongValue<uint16_t, resources_internal::PioSizeTag> {
 public:
  using StrongValue::StrongValue;

  // Checked narrowing: kOutOfRange if `size` does not fit in 16 bits.
  static absl::StatusOr<PioSize> FromIoSize(IoSize size);

  constexpr operator IoSize() const { return IoSize{raw_value()}; }  // NOLINT
};

// "0x3f8".
std::ostream& operator<<(std::ostream& os, IoAddress value);
std::ostream& operator<<(std::ostream& os, IoSize value);
std::ostream& operator<<(std::ostream& os, PioAddress value);
std::ostream& operator<<(std::ostream& os, PioSize value);

}  // namespace dbs

#endif  // DBS_DEVICE_RESOURCES_ADDRESS_H_
