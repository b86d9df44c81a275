// bus/bus_entry.h — what IoBus (bus/io_bus.h) holds and answers: a registered range's
// entry, the projections a bus keeps of its values in the leaves, and a lookup's result.
//
// Thread-safety: plain values; an entry is immutable once registered.

#ifndef DBS_DEVICE_BUS_BUS_ENTRY_H_
#define DBS_DEVICE_BUS_BUS_ENTRY_H_

#include <cstdint>
#include <type_traits>

#include "dbs_device/bus/bus_range.h"

namespace dbs {

// A registered range and its value. Allocated once when registered, never changed, and
// retired to the RCU domain when unregistered, so every generation naming it can point at it.
template <typename V>
struct BusEntry {
  BusRange range;
  V value;
  // Ranges of equal priority never overlap; where ranges of different priorities do, the
  // highest holding an access's first byte takes the access (an overlay).
  int32_t priority = 0;
};

// The default hot projection of a value: a pointer to it.
template <typename V>
struct PointerToValue {
  const V* operator()(const V& value) const { return &value; }
};

// A hot projection for values that are small and trivially copyable themselves (a raw
// device pointer): the value, copied into the leaf.
template <typename V>
struct ValueItself {
  V operator()(const V& value) const { return value; }
};

// The default tag projection: none.
template <typename V>
struct NoTag {
  struct None {};
  None operator()(const V&) const { return {}; }
};

// What a lookup returns: the entry, its hot projection and tag (in the generation's leaf,
// valid as long as the read section), and the offset of the address inside its range.
template <typename V, typename HotOf = PointerToValue<V>, typename TagOf = NoTag<V>>
struct BusLookup {
  using Hot = std::invoke_result_t<HotOf, const V&>;
  using Tag = std::invoke_result_t<TagOf, const V&>;
  static_assert(std::is_trivially_copyable_v<Hot>, "the hot projection is copied into leaves");
  static_assert(std::is_trivially_copyable_v<Tag>, "the tag is copied into leaves");

  const BusEntry<V>* entry = nullptr;
  const Hot* hot = nullptr;
  const Tag* tag = nullptr;  // null when TagOf is NoTag
  uint64_t offset = 0;
  LookupOutcome outcome = LookupOutcome::kNoRange;

  bool ok() const { return outcome == LookupOutcome::kHit; }
};

}  // namespace dbs

#endif  // DBS_DEVICE_BUS_BUS_ENTRY_H_
