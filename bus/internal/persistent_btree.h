// bus/internal/persistent_btree.h — the nodes of IoBus's snapshots and the path-copying
// editor that makes the next generation from the current one.
//
// A generation is a B+-tree keyed by range base. Nodes are immutable once published. A
// change copies the path from the root to each leaf it touches (a node created by the same
// change is edited in place: a batch copies each node at most once) and shares every other
// node with the previous generation, so one change costs O(log n) copies and retires
// O(log n) nodes, whatever the number of ranges.
//
// Layout, for the read side: every node holds kNodeSlots (16) sorted keys, searched with a
// fixed four-step branch-free binary search (conditional moves, no mispredictions on random
// addresses). Slots past a node's count are padding: copies of its last slot, so the search
// needs no bound and lands, for an address above every key, on a copy of the last one. Keys
// come first in each node, so the search touches two cache lines per level. An inner
// node's keys[i] is exactly the lowest base under children[i]; a leaf keeps, beside its
// bases, each range's last address and hot projection (what a dispatch reads), its tag (in
// an array of its own, read only when counting) and its entry (read only on errors and by
// writers).
//
// Rebalancing: an insertion into a full node splits it in two halves, or, when it appends
// past the node's last key (ascending registration), leaves the node full and starts a new
// one. An erasure that leaves a node with fewer than kMinSlots slots merges it with a
// neighbour or takes slots from it; an emptied node is removed; a root with one child is
// replaced by that child.
//
// Internal to dbs_device: used by bus/io_bus.h only.

#ifndef DBS_DEVICE_BUS_INTERNAL_PERSISTENT_BTREE_H_
#define DBS_DEVICE_BUS_INTERNAL_PERSISTENT_BTREE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/config.h"
#include "absl/container/inlined_vector.h"
#include "dbs_device/bus/internal/block_pool.h"
#include "dbs_device/bus/rcu.h"

namespace dbs::bus_internal {

inline constexpr uint32_t kNodeSlots = 16;
inline constexpr uint32_t kMinSlots = 4;
// Enough for 2^64 keys at the lowest fill a tree reaches.
inline constexpr uint32_t kMaxHeight = 33;

// What only writers read of a node.
struct NodeMeta {
  uint64_t birth = 0;   // the RCU epoch read before the change that created it
  uint64_t change = 0;  // the serial of that change: editable in place while it runs
  uint32_t count = 0;   // slots in use
  uint32_t height = 0;  // 1 for a leaf, its children's + 1 for an inner node
};

// The position of the last of kNodeSlots sorted keys that is <= key, or 0 if none is.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint32_t LastAtOrBelow(const uint64_t* keys, uint64_t key) {
  static_assert(kNodeSlots == 16, "four steps search sixteen keys");
  uint32_t pos = 0;
  pos = keys[pos + 8] <= key ? pos + 8 : pos;
  pos = keys[pos + 4] <= key ? pos + 4 : pos;
  pos = keys[pos + 2] <= key ? pos + 2 : pos;
  pos = keys[pos + 1] <= key ? pos + 1 : pos;
  return pos;
}

// The same, searching only the first 2 * step keys (step a power of two, or 0 for one key):
// for a root, whose count is known up front and often small.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint32_t LastAtOrBelowFrom(const uint64_t* keys, uint64_t key,
                                                               uint32_t step) {
  uint32_t pos = 0;
  for (; step != 0; step >>= 1) pos = keys[pos + step] <= key ? pos + step : pos;
  return pos;
}

// The first step of a search that covers `count` (1 to kNodeSlots) keys: half the next
// power of two.
constexpr uint32_t FirstStep(uint32_t count) {
  if (count <= 1) return 0;
  uint32_t step = 1;
  while (2 * step < count) step *= 2;
  return step;
}
static_assert(FirstStep(1) == 0 && FirstStep(2) == 1 && FirstStep(3) == 2 && FirstStep(5) == 4 &&
              FirstStep(9) == 8 && FirstStep(16) == 8);

struct alignas(64) InnerNode {
  uint64_t keys[kNodeSlots];  // keys[i]: the lowest base under children[i]
  const void* children[kNodeSlots];
  NodeMeta meta;

  // Slots [at, at + n) of `from` (which may be this node) to [to, to + n).
  void MoveSlots(uint32_t to, const InnerNode& from, uint32_t at, uint32_t n) {
    std::memmove(&keys[to], &from.keys[at], n * sizeof(keys[0]));
    std::memmove(&children[to], &from.children[at], n * sizeof(children[0]));
  }
  // Fills the slots past the count with copies of the last one.
  void Pad() {
    std::fill(keys + meta.count, keys + kNodeSlots, keys[meta.count - 1]);
    std::fill(children + meta.count, children + kNodeSlots, children[meta.count - 1]);
  }
};

// Tags of a leaf, or nothing when the bus has no tag projection.
template <typename Tag, bool kEmpty = std::is_empty_v<Tag>>
struct TagArray {
  Tag values[kNodeSlots];
};
template <typename Tag>
struct TagArray<Tag, true> {};

template <typename Entry, typename Hot, typename Tag>
struct alignas(64) LeafNode {
  using EntryType = Entry;
  static constexpr bool kHasTag = !std::is_empty_v<Tag>;
  struct Record {
    uint64_t last;  // the range's last address
    Hot hot;
  };
  // One slot's contents, as the editor moves them.
  struct Slot {
    uint64_t base;
    Record record;
    Tag tag;
    const Entry* entry;
  };

  uint64_t bases[kNodeSlots];
  Record records[kNodeSlots];
  [[no_unique_address]] TagArray<Tag> tags;
  const Entry* entries[kNodeSlots];
  NodeMeta meta;

  Slot Get(uint32_t i) const {
    Slot s{bases[i], records[i], Tag{}, entries[i]};
    if constexpr (kHasTag) s.tag = tags.values[i];
    return s;
  }
  void Set(uint32_t i, const Slot& s) {
    bases[i] = s.base;
    records[i] = s.record;
    if constexpr (kHasTag) tags.values[i] = s.tag;
    entries[i] = s.entry;
  }
  // Slots [at, at + n) of `from` (which may be this leaf) to [to, to + n).
  void MoveSlots(uint32_t to, const LeafNode& from, uint32_t at, uint32_t n) {
    std::memmove(&bases[to], &from.bases[at], n * sizeof(bases[0]));
    std::memmove(&records[to], &from.records[at], n * sizeof(records[0]));
    if constexpr (kHasTag) {
      std::memmove(&tags.values[to], &from.tags.values[at], n * sizeof(tags.values[0]));
    }
    std::memmove(&entries[to], &from.entries[at], n * sizeof(entries[0]));
  }
  // Fills the slots past the count with copies of the last one.
  void Pad() {
    const uint32_t n = meta.count;
    std::fill(bases + n, bases + kNodeSlots, bases[n - 1]);
    std::fill(records + n, records + kNodeSlots, records[n - 1]);
    if constexpr (kHasTag) std::fill(tags.values + n, tags.values + kNodeSlots, tags.values[n - 1]);
    std::fill(entries + n, entries + kNodeSlots, entries[n - 1]);
  }
};

// One address space of a generation.
struct Root {
  const void* node = nullptr;  // null when empty
  uint32_t height = 0;         // 1 when the root is a leaf
  uint32_t first_step = 0;     // FirstStep of the root's count: no padding searched there
  size_t size = 0;             // ranges
};

// The trees of the ranges whose priority is not 0, one per priority (ranges of one priority
// never overlap), per address space, highest priority first. Immutable once published; a
// generation without overlays has none.
struct OverlayLevel {
  int32_t priority;
  Root root;
};
struct Overlays {
  std::vector<OverlayLevel> levels[2];  // [AddressSpace]
};

// A slot of a leaf.
template <typename Leaf>
struct LeafSlot {
  const Leaf* leaf;
  uint32_t slot;
};

// The last slot whose base is <= key in the leaf whose key range holds `key` (slot 0 if
// every base there is above it). REQUIRES: root.node is not null.
template <typename Leaf>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline LeafSlot<Leaf> FindSlot(const Root& root, uint64_t key) {
  if (root.height == 1) {
    const auto* leaf = static_cast<const Leaf*>(root.node);
    return {leaf, LastAtOrBelowFrom(leaf->bases, key, root.first_step)};
  }
  const auto* top = static_cast<const InnerNode*>(root.node);
  const void* node = top->children[LastAtOrBelowFrom(top->keys, key, root.first_step)];
  for (uint32_t h = root.height - 1; h > 1; --h) {
    const auto* inner = static_cast<const InnerNode*>(node);
    node = inner->children[LastAtOrBelow(inner->keys, key)];
  }
  const auto* leaf = static_cast<const Leaf*>(node);
  return {leaf, LastAtOrBelow(leaf->bases, key)};
}

template <typename T>
void DeleteNode(void* node) {
  DeleteAligned(static_cast<T*>(node));
}

template <typename T>
RcuDomain::Retiree RetireeOf(const T* node) {
  return RcuDomain::Retiree{const_cast<T*>(node), &DeleteNode<T>, sizeof(T), node->meta.birth};
}

// Makes room for one more element, growing geometrically (reserve(size() + 1) would
// reallocate on every call), so that the push_back after it cannot throw.
template <typename Vector>
void ReserveOneMore(Vector& v) {
  if (v.size() == v.capacity()) v.reserve(std::max<size_t>(16, 2 * v.capacity()));
}

// What one change did to the nodes, for the caller to free or retire once it knows whether
// the change is published.
// Inline room for what a single change to a tree of a few levels records, so that it
// allocates nothing beyond its nodes.
struct NodeLedger {
  using List = absl::InlinedVector<RcuDomain::Retiree, 8>;
  List fresh;     // created by the change
  List dropped;   // created by it and no longer in its tree
  List replaced;  // published before it and not in its tree (and, for IoBus, entries)
};

// Edits one address space's tree for one change.
template <typename Leaf>
class TreeEditor {
 public:
  using Slot = typename Leaf::Slot;

  // A slot of a leaf of the tree being edited.
  struct Position {
    const Leaf* leaf = nullptr;
    uint32_t slot = 0;
  };

  TreeEditor(Root root, uint64_t change, uint64_t birth, NodeLedger& ledger)
      : root_(root), change_(change), birth_(birth), ledger_(ledger) {}

  // The edited tree, as a generation publishes it.
  Root root() const {
    Root root = root_;
    if (root.node != nullptr) root.first_step = FirstStep(Count(root.node, root.height == 1));
    return root;
  }

  // Adds `slot` (a range [slot.base, slot.record.last]) unless it overlaps a slot's range;
  // returns that slot then (leaf null when `slot` was added). One descent does both: it
  // goes by the range's last address to the slot with the largest base <= it, which is the
  // only one that can overlap; when it does not, no base lies inside the range, so no
  // separator does either and the range's own place is on the same path.
  Position InsertUnlessOverlapping(const Slot& slot) {
    const uint64_t last = slot.record.last;
    if (root_.node == nullptr) {
      Leaf* leaf = NewLeaf();
      leaf->Set(0, slot);
      leaf->meta.count = 1;
      root_ = Root{leaf, 1, 0, 1};
      return {};
    }
    Path path = Descend(last);
    const auto* found = static_cast<const Leaf*>(path.leaf);
    uint32_t at = 0;
    if (found->bases[path.leaf_slot] <= last) {
      if (found->records[path.leaf_slot].last >= slot.base) return {found, path.leaf_slot};
      at = path.leaf_slot + 1;
    }
    ++root_.size;
    Leaf* leaf = Own(found);
    Split split{leaf, nullptr};
    if (leaf->meta.count < kNodeSlots) {
      InsertAt(leaf, at, slot);
    } else {
      split = SplitAndInsert(leaf, at, slot);
    }
    Rebuild(path, split);
    return {};
  }

  // Removes the slot of the range [base, last] and returns its entry; null (and nothing
  // changes) if no slot holds exactly that range.
  const typename Leaf::EntryType* EraseExact(uint64_t base, uint64_t last) {
    if (root_.node == nullptr) return nullptr;
    Path path = Descend(base);
    const auto* found = static_cast<const Leaf*>(path.leaf);
    const uint32_t i = path.leaf_slot;
    if (found->bases[i] != base || found->records[i].last != last) return nullptr;
    const auto* entry = found->entries[i];
    --root_.size;
    Leaf* leaf = Own(found);
    RemoveAt(leaf, i);
    const void* child = leaf;
    bool child_is_leaf = true;
    for (uint32_t level = path.depth; level-- > 0;) {
      InnerNode* parent = Own(path.inner[level]);
      const uint32_t i = path.slot[level];
      parent->children[i] = child;
      if (Count(child, child_is_leaf) == 0) {
        Discard(child, child_is_leaf);
        RemoveChild(parent, i);
      } else if (Count(child, child_is_leaf) < kMinSlots && parent->meta.count > 1) {
        Rebalance(parent, i, child_is_leaf);
      } else {
        parent->keys[i] = MinOf(child, child_is_leaf);
      }
      child = parent;
      child_is_leaf = false;
    }
    // The root: drop it when empty, replace it by its only child.
    if (Count(child, child_is_leaf) == 0) {
      Discard(child, child_is_leaf);
      root_ = Root{};
      return entry;
    }
    while (!child_is_leaf && Count(child, false) == 1) {
      const void* only = static_cast<const InnerNode*>(child)->children[0];
      Discard(child, false);
      child = only;
      --root_.height;
      child_is_leaf = root_.height == 1;
    }
    root_.node = child;
    return entry;
  }

  // Pads every node the change created and kept: what publication needs of them.
  static void PadFresh(const NodeLedger& ledger) {
    for (const RcuDomain::Retiree& node : ledger.fresh) {
      if (node.deleter == &DeleteNode<Leaf>) {
        auto* leaf = static_cast<Leaf*>(node.object);
        if (leaf->meta.count > 0) leaf->Pad();
      } else if (node.deleter == &DeleteNode<InnerNode>) {
        auto* inner = static_cast<InnerNode*>(node.object);
        if (inner->meta.count > 0) inner->Pad();
      }
    }
  }

  // Every node of `root`'s tree, for retiring a whole generation.
  template <typename Out>
  static void CollectNodes(const Root& root, Out& out) {
    if (root.node != nullptr) Collect(root.node, root.height, out);
  }

  // Calls `f(const Leaf&)` for every leaf of `root`'s tree in key order.
  template <typename F>
  static void ForEachLeaf(const Root& root, F&& f) {
    if (root.node != nullptr) VisitLeaves(root.node, root.height, f);
  }

  // The number of slots of a leaf or inner node, and its lowest key.
  static uint32_t Count(const void* node, bool is_leaf) {
    return is_leaf ? static_cast<const Leaf*>(node)->meta.count
                   : static_cast<const InnerNode*>(node)->meta.count;
  }
  static uint64_t MinOf(const void* node, bool is_leaf) {
    return is_leaf ? static_cast<const Leaf*>(node)->bases[0]
                   : static_cast<const InnerNode*>(node)->keys[0];
  }

 private:
  struct Path {
    const InnerNode* inner[kMaxHeight];
    uint32_t slot[kMaxHeight];  // the child taken at inner[level]
    uint32_t depth = 0;         // inner nodes above the leaf
    const void* leaf = nullptr;
    uint32_t leaf_slot = 0;  // the last slot with base <= key, or 0
  };
  // A node after an insertion, and the new right sibling if it split.
  struct Split {
    void* left;
    void* right;
  };

  // Asks for every cache line of `node` at once: a writer reads the keys, then a child or
  // entry, then copies the whole node, and in a large tree each of those would otherwise be
  // a miss of its own, one after the other.
  // Nodes this change made are in cache already.
  template <typename Node>
  void Prefetch(const Node* node) const {
    if (node->meta.change == change_) return;
    const char* p = reinterpret_cast<const char*>(node);
    for (size_t line = 0; line < sizeof(Node); line += 64) __builtin_prefetch(p + line);
  }

  // The last of the first `count` keys that is <= key, or 0: the writer's search, which
  // does not rely on padding (nodes are padded only when the change is published).
  static uint32_t LastAtOrBelowIn(const uint64_t* keys, uint32_t count, uint64_t key) {
    const uint32_t above = static_cast<uint32_t>(std::upper_bound(keys, keys + count, key) - keys);
    return above == 0 ? 0 : above - 1;
  }

  Path Descend(uint64_t key) const {
    Path path;
    const void* node = root_.node;
    for (uint32_t h = root_.height; h > 1; --h) {
      const auto* inner = static_cast<const InnerNode*>(node);
      Prefetch(inner);
      const uint32_t i = LastAtOrBelowIn(inner->keys, inner->meta.count, key);
      path.inner[path.depth] = inner;
      path.slot[path.depth] = i;
      ++path.depth;
      node = inner->children[i];
    }
    const auto* leaf = static_cast<const Leaf*>(node);
    Prefetch(leaf);
    path.leaf = leaf;
    path.leaf_slot = LastAtOrBelowIn(leaf->bases, leaf->meta.count, key);
    return path;
  }

  // After an insertion into the leaf of `path`: each ancestor copied, pointed at its new
  // child, given the split-off sibling; a new root when the old one split.
  void Rebuild(const Path& path, Split split) {
    for (uint32_t level = path.depth; level-- > 0;) {
      const bool child_is_leaf = level + 1 == path.depth;
      InnerNode* parent = Own(path.inner[level]);
      const uint32_t i = path.slot[level];
      parent->children[i] = split.left;
      parent->keys[i] = MinOf(split.left, child_is_leaf);
      Split up{parent, nullptr};
      if (split.right != nullptr) {
        const uint64_t key = MinOf(split.right, child_is_leaf);
        if (parent->meta.count < kNodeSlots) {
          InsertChild(parent, i + 1, key, split.right);
        } else {
          up = SplitAndInsertChild(parent, i + 1, key, split.right);
        }
      }
      split = up;
    }
    root_.node = split.left;
    if (split.right != nullptr) {
      const bool children_are_leaves = root_.height == 1;
      InnerNode* root = NewInner(root_.height + 1);
      root->keys[0] = MinOf(split.left, children_are_leaves);
      root->children[0] = split.left;
      root->keys[1] = MinOf(split.right, children_are_leaves);
      root->children[1] = split.right;
      root->meta.count = 2;
      root_.node = root;
      ++root_.height;
    }
  }

  // Merges the underfull child `i` of `parent` with a neighbour, or evens the two out.
  void Rebalance(InnerNode* parent, uint32_t i, bool is_leaf) {
    const uint32_t left_i = i > 0 ? i - 1 : i;
    const uint32_t right_i = left_i + 1;
    if (is_leaf) {
      RebalancePair<Leaf>(parent, left_i, right_i);
    } else {
      RebalancePair<InnerNode>(parent, left_i, right_i);
    }
  }

  template <typename Node>
  void RebalancePair(InnerNode* parent, uint32_t left_i, uint32_t right_i) {
    constexpr bool kLeaf = std::is_same_v<Node, Leaf>;
    Node* left = Own(static_cast<const Node*>(parent->children[left_i]));
    const Node* right = static_cast<const Node*>(parent->children[right_i]);
    const uint32_t total = left->meta.count + right->meta.count;
    if (total <= kNodeSlots) {
      left->MoveSlots(left->meta.count, *right, 0, right->meta.count);
      left->meta.count = total;
      Discard(right, kLeaf);
      parent->children[left_i] = left;
      parent->keys[left_i] = MinOf(left, kLeaf);
      RemoveChild(parent, right_i);
      return;
    }
    Node* owned_right = Own(right);
    const uint32_t want_left = total / 2;
    if (left->meta.count < want_left) {
      const uint32_t move = want_left - left->meta.count;
      left->MoveSlots(left->meta.count, *owned_right, 0, move);
      owned_right->MoveSlots(0, *owned_right, move, owned_right->meta.count - move);
      owned_right->meta.count -= move;
    } else {
      const uint32_t move = left->meta.count - want_left;
      owned_right->MoveSlots(move, *owned_right, 0, owned_right->meta.count);
      owned_right->MoveSlots(0, *left, want_left, move);
      owned_right->meta.count += move;
    }
    left->meta.count = want_left;
    parent->children[left_i] = left;
    parent->keys[left_i] = MinOf(left, kLeaf);
    parent->children[right_i] = owned_right;
    parent->keys[right_i] = MinOf(owned_right, kLeaf);
  }

  // --- Slots ------------------------------------------------------------------------------

  static void InsertAt(Leaf* leaf, uint32_t at, const Slot& slot) {
    leaf->MoveSlots(at + 1, *leaf, at, leaf->meta.count - at);
    leaf->Set(at, slot);
    ++leaf->meta.count;
  }
  static void RemoveAt(Leaf* leaf, uint32_t at) {
    leaf->MoveSlots(at, *leaf, at + 1, leaf->meta.count - at - 1);
    --leaf->meta.count;
  }
  static void InsertChild(InnerNode* node, uint32_t at, uint64_t key, const void* child) {
    node->MoveSlots(at + 1, *node, at, node->meta.count - at);
    node->keys[at] = key;
    node->children[at] = child;
    ++node->meta.count;
  }
  static void RemoveChild(InnerNode* node, uint32_t at) {
    node->MoveSlots(at, *node, at + 1, node->meta.count - at - 1);
    --node->meta.count;
  }

  // Splits the full `node` and inserts at `at` (a position of the unsplit node). Appending
  // past the last slot leaves the node full and starts the sibling with the new slot alone,
  // so that ascending insertions fill nodes completely.
  template <typename Node, typename Put>
  Split SplitFull(Node* node, uint32_t at, Put put) {
    Node* right = NewNode<Node>(node->meta.height);
    if (at == kNodeSlots) {
      right->meta.count = 0;
      put(right, 0);
      return {node, right};
    }
    constexpr uint32_t kHalf = kNodeSlots / 2;
    right->MoveSlots(0, *node, kHalf, kNodeSlots - kHalf);
    right->meta.count = kNodeSlots - kHalf;
    node->meta.count = kHalf;
    if (at <= kHalf) {
      put(node, at);
    } else {
      put(right, at - kHalf);
    }
    return {node, right};
  }
  Split SplitAndInsert(Leaf* leaf, uint32_t at, const Slot& slot) {
    return SplitFull(leaf, at, [&slot](Leaf* n, uint32_t j) { InsertAt(n, j, slot); });
  }
  Split SplitAndInsertChild(InnerNode* node, uint32_t at, uint64_t key, const void* child) {
    return SplitFull(node, at,
                     [key, child](InnerNode* n, uint32_t j) { InsertChild(n, j, key, child); });
  }

  // --- Node ownership ---------------------------------------------------------------------

  template <typename Node>
  Node* NewNode(uint32_t height) {
    ReserveOneMore(ledger_.fresh);  // so that recording it cannot throw
    Node* node = NewAligned<Node>();
    node->meta.height = height;
    node->meta.birth = birth_;
    node->meta.change = change_;
    ledger_.fresh.push_back(RetireeOf(node));
    return node;
  }
  Leaf* NewLeaf() { return NewNode<Leaf>(1); }
  InnerNode* NewInner(uint32_t height) { return NewNode<InnerNode>(height); }

  // `node` itself if this change created it, else a copy that replaces it.
  template <typename Node>
  Node* Own(const Node* node) {
    if (node->meta.change == change_) return const_cast<Node*>(node);
    ReserveOneMore(ledger_.fresh);  // so that recording it cannot throw
    ReserveOneMore(ledger_.replaced);
    Node* copy = NewAligned<Node>(*node);
    copy->meta.birth = birth_;
    copy->meta.change = change_;
    ledger_.fresh.push_back(RetireeOf(copy));
    ledger_.replaced.push_back(RetireeOf(node));
    return copy;
  }

  // `node` leaves the tree: freed with the change if it created it, else retired.
  void Discard(const void* node, bool is_leaf) {
    const NodeMeta& meta =
        is_leaf ? static_cast<const Leaf*>(node)->meta : static_cast<const InnerNode*>(node)->meta;
    auto& list = meta.change == change_ ? ledger_.dropped : ledger_.replaced;
    list.push_back(is_leaf ? RetireeOf(static_cast<const Leaf*>(node))
                           : RetireeOf(static_cast<const InnerNode*>(node)));
  }

  // --- Whole-tree walks -------------------------------------------------------------------

  template <typename Out>
  static void Collect(const void* node, uint32_t height, Out& out) {
    if (height == 1) {
      out.push_back(RetireeOf(static_cast<const Leaf*>(node)));
      return;
    }
    const auto* inner = static_cast<const InnerNode*>(node);
    for (uint32_t i = 0; i < inner->meta.count; ++i) Collect(inner->children[i], height - 1, out);
    out.push_back(RetireeOf(inner));
  }

  template <typename F>
  static void VisitLeaves(const void* node, uint32_t height, F& f) {
    if (height == 1) {
      f(*static_cast<const Leaf*>(node));
      return;
    }
    const auto* inner = static_cast<const InnerNode*>(node);
    for (uint32_t i = 0; i < inner->meta.count; ++i) VisitLeaves(inner->children[i], height - 1, f);
  }

  Root root_;
  const uint64_t change_;
  const uint64_t birth_;
  NodeLedger& ledger_;
};

}  // namespace dbs::bus_internal

#endif  // DBS_DEVICE_BUS_INTERNAL_PERSISTENT_BTREE_H_
