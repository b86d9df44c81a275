// bus/internal/persistent_btree_check.h — the invariants of IoBus's trees, checked: sorted
// keys, exact separators, complete padding, no empty node, one depth for every leaf, the
// size; and CheckInvariants over a whole generation. For tests and fuzzers only
// (//bus:persistent_btree_check, testonly); O(n).

#ifndef DBS_DEVICE_BUS_INTERNAL_PERSISTENT_BTREE_CHECK_H_
#define DBS_DEVICE_BUS_INTERNAL_PERSISTENT_BTREE_CHECK_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "dbs_device/bus/internal/io_bus_impl.h"
#include "dbs_device/bus/internal/persistent_btree.h"

namespace dbs::bus_internal {

template <typename Leaf>
class TreeChecker {
 public:
  static absl::Status Check(const Root& root) {
    if (root.node == nullptr) {
      if (root.height != 0 || root.size != 0)
        return absl::InternalError("empty root with a height or size");
      return absl::OkStatus();
    }
    if (root.first_step != FirstStep(TreeEditor<Leaf>::Count(root.node, root.height == 1))) {
      return absl::InternalError("the root's first search step does not match its count");
    }
    size_t size = 0;
    uint64_t previous = 0;
    bool first = true;
    if (absl::Status s = CheckNode(root.node, root.height, size, previous, first); !s.ok())
      return s;
    if (size != root.size) {
      return absl::InternalError(absl::StrFormat("size %u, but %u slots", root.size, size));
    }
    return absl::OkStatus();
  }

 private:
  static absl::Status CheckNode(const void* node, uint32_t height, size_t& size, uint64_t& previous,
                                bool& first) {
    if (height == 1) {
      const auto* leaf = static_cast<const Leaf*>(node);
      const uint32_t n = leaf->meta.count;
      if (leaf->meta.height != 1) return absl::InternalError("an inner node where a leaf belongs");
      if (n == 0 || n > kNodeSlots)
        return absl::InternalError(absl::StrFormat("leaf of %u slots", n));
      for (uint32_t j = 0; j < kNodeSlots; ++j) {
        const uint32_t real = j < n ? j : n - 1;
        if (leaf->bases[j] != leaf->bases[real] || leaf->entries[j] != leaf->entries[real] ||
            leaf->records[j].last != leaf->records[real].last) {
          return absl::InternalError("leaf padding is not a copy of the last slot");
        }
        if (j >= n) continue;
        if (!first && leaf->bases[j] <= previous) {
          return absl::InternalError(
              absl::StrFormat("base %#x after %#x", leaf->bases[j], previous));
        }
        first = false;
        previous = leaf->bases[j];
      }
      size += n;
      return absl::OkStatus();
    }
    const auto* inner = static_cast<const InnerNode*>(node);
    const uint32_t n = inner->meta.count;
    if (inner->meta.height != height) {
      return absl::InternalError(
          absl::StrFormat("a node of height %u at height %u", inner->meta.height, height));
    }
    if (n == 0 || n > kNodeSlots)
      return absl::InternalError(absl::StrFormat("inner node of %u children", n));
    for (uint32_t j = 0; j < kNodeSlots; ++j) {
      const uint32_t real = j < n ? j : n - 1;
      if (inner->keys[j] != inner->keys[real] || inner->children[j] != inner->children[real]) {
        return absl::InternalError("inner padding is not a copy of the last slot");
      }
      if (j >= n) continue;
      const uint64_t lowest = TreeEditor<Leaf>::MinOf(inner->children[j], height == 2);
      if (inner->keys[j] != lowest) {
        return absl::InternalError(absl::StrFormat(
            "separator %#x, but the child's lowest base is %#x", inner->keys[j], lowest));
      }
      if (absl::Status s = CheckNode(inner->children[j], height - 1, size, previous, first);
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }
};

template <typename G>
absl::Status GenerationAccess::CheckInvariants(const G& generation) {
  absl::Status status;
  generation.ForEachRoot([&status](const Root& root) {
    if (status.ok()) status = TreeChecker<typename G::Leaf>::Check(root);
  });
  return status;
}

// The invariants of every tree of `generation` (an IoBus Generation).
template <typename Generation>
absl::Status CheckInvariants(const Generation& generation) {
  return GenerationAccess::CheckInvariants(generation);
}

}  // namespace dbs::bus_internal

#endif  // DBS_DEVICE_BUS_INTERNAL_PERSISTENT_BTREE_CHECK_H_
