// bus/bus_range.h — the address spaces, ranges and lookup errors shared by IoBus and
// IoManager.
//
// A BusRange is `size` addresses from `base` in one of two address spaces: x86 port I/O
// (addresses below 0x10000) or MMIO (the whole 64-bit space, so a range may end at
// 2^64 - 1). Ranges are validated when a bus is asked to hold them (ValidateBusRange);
// a lookup that fails is described by a LookupOutcome and turned into an absl::Status by
// LookupError, whose messages name the addresses in hex.
//
// Thread-safety: plain values and pure functions.

#ifndef DBS_DEVICE_BUS_BUS_RANGE_H_
#define DBS_DEVICE_BUS_BUS_RANGE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace dbs {

enum class AddressSpace : uint8_t {
  kPio = 0,   // x86 port I/O: addresses below 0x10000
  kMmio = 1,  // memory-mapped I/O: the whole 64-bit space
};
inline constexpr size_t kAddressSpaces = 2;

// "PIO" or "MMIO".
const char* AddressSpaceName(AddressSpace space);

// `size` addresses from `base` in `space`.
struct BusRange {
  AddressSpace space = AddressSpace::kMmio;
  uint64_t base = 0;
  uint64_t size = 0;

  // The last address of a validated range.
  uint64_t last() const { return base + (size - 1); }
  friend bool operator==(const BusRange&, const BusRange&) = default;
};

// "PIO [0x3f8, 0x3ff]" (or "PIO 0x3f8+0x0" for an empty or wrapping range).
std::string ToString(const BusRange& range);

// kInvalidArgument if `range` is empty or runs past the end of its space.
[[nodiscard]] absl::Status ValidateBusRange(const BusRange& range);

enum class LookupOutcome : uint8_t {
  kHit,         // the access lies inside the range found
  kNoRange,     // no range contains the address: kNotFound
  kPastEnd,     // it starts inside the range found and runs past its end: kOutOfRange
  kZeroLength,  // kInvalidArgument
};

// The status for a failed lookup, naming the addresses; `range` is the range the access
// started in (for kPastEnd), or null.
[[nodiscard]] absl::Status LookupError(LookupOutcome outcome, AddressSpace space, uint64_t address,
                                       uint64_t length, const BusRange* range);

}  // namespace dbs

#endif  // DBS_DEVICE_BUS_BUS_RANGE_H_
