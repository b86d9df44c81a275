// bus/internal/hint_cache.h — per thread and address space, a small direct-mapped cache of
// the leaf slots recent lookups found, so that a driver alternating between a few registers
// (a UART's data and status, a timer, a PCI config pair) finds each without a search.
// Internal to bus/io_bus.h.
//
// A hint is selected by address bits 2-5. `generation_id` names the generation the hint
// belongs to; ids are never reused, so a hint is followed only inside the generation it
// came from and a stale one costs a search, never a wrong answer. The range's bounds are
// copied into the hint, so checking it reads only this thread's storage (the leaf, likely
// evicted in a large tree, is read only when the hint holds). Written only when a lookup
// misses, and only to this thread's own storage.

#ifndef DBS_DEVICE_BUS_INTERNAL_HINT_CACHE_H_
#define DBS_DEVICE_BUS_INTERNAL_HINT_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"
#include "dbs_device/bus/bus_range.h"

namespace dbs::bus_internal {

struct Hint {
  uint64_t generation_id;
  uint64_t base;
  uint64_t last;
  const void* leaf;
  uint32_t slot;  // the slot of `leaf` holding the range
};
inline constexpr size_t kHintsPerSpace = 16;
inline constinit thread_local Hint tls_hints[kAddressSpaces]
                                            [kHintsPerSpace] ABSL_ATTRIBUTE_INITIAL_EXEC = {};

// The hint a lookup of `address` in `space` consults (and replaces when it misses).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline Hint& HintFor(AddressSpace space, uint64_t address) {
  return tls_hints[static_cast<size_t>(space)][(address >> 2) % kHintsPerSpace];
}

// Ids of generations, process-wide (0 is never used, so an empty hint never matches).
inline std::atomic<uint64_t> g_next_generation_id{1};

}  // namespace dbs::bus_internal

#endif  // DBS_DEVICE_BUS_INTERNAL_HINT_CACHE_H_
