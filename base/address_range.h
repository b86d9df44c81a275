// base/address_range.h — the one check of a range of addresses: non-empty, and inside its
// space. The bus (bus/bus_range.h) and the resource kinds (resources/) both use it.
//
// Thread-safety: a pure function.

#ifndef DBS_DEVICE_BASE_ADDRESS_RANGE_H_
#define DBS_DEVICE_BASE_ADDRESS_RANGE_H_

#include <cstdint>
#include <optional>

namespace dbs::internal {

// The last address of `size` addresses from `base` in a space of `space_size` addresses
// (0 stands for the whole 64-bit space), or nullopt when the range is empty or runs past the
// end of its space.
constexpr std::optional<uint64_t> LastAddressIn(uint64_t base, uint64_t size,
                                                uint64_t space_size = 0) {
  if (size == 0) return std::nullopt;
  const uint64_t last = base + (size - 1);
  if (last < base) return std::nullopt;                            // wraps past 2^64
  if (space_size != 0 && last >= space_size) return std::nullopt;  // past a smaller space
  return last;
}

}  // namespace dbs::internal

#endif  // DBS_DEVICE_BASE_ADDRESS_RANGE_H_
