// resources/allocator.h — interval and ID allocators for device resources.
//
// IntervalAllocator hands out aligned ranges of a 64-bit space [min, max] (inclusive, so
// the whole space 0..2^64-1 is expressible) under a Constraint: a size, a window the range
// must fall in, a power-of-two alignment and a policy (lowest fitting address, highest, or
// exactly at the window's start). Ranges are given back with Free (exact ranges only) and
// free neighbours coalesce; Reserve takes a specific range out of the free space.
//
// Cost: Allocate, Free and Reserve are O(log n) in the number of free and allocated
// ranges whatever the fragmentation, for the alignments VMMs ask for (what that costs is
// in benchmarks/README.md, "Allocator"). The free ranges live in a treap
// ordered by address; each node also stores, for eight alignment classes (2^0, 2^2, 2^4,
// 2^8, 4 KiB, 64 KiB, 2 MiB, 1 GiB), the largest aligned capacity in its subtree: the most
// units that fit in one of its free ranges starting at a multiple of the class's alignment.
// A search for the lowest (or highest) fit of `size` at alignment 2^k skips every subtree
// whose capacity for k's class (the largest class not above 2^k) is below `size`. For an
// alignment that is a class, that capacity is exact and the search walks one root-to-leaf
// path once inside the window; for one between classes (a BAR aligned to its own 128 KiB)
// it is an upper bound, and the search decides exactly at each range it reaches, visiting
// besides the path only ranges that fit at the class below but not at 2^k. A plain
// "largest free range" summary would visit every range large enough but misaligned.
// Changes are made in place along one path (a range shrunk, grown or removed; one new
// range for a split), so an operation recomputes the eight maxima of O(log n) nodes.
// The allocated ranges are kept in an absl::btree_map so Free checks exactness in
// O(log n). Treap depth is O(log n) in expectation for any sequence of operations
// (priorities are random, not derived from the input).
//
// Errors never change the state, and no input overflows: size 0, an alignment that is not
// a power of two, or min > max is kInvalidArgument; a request that cannot be satisfied
// (too large for the window, a full space, an exact address that is taken or misaligned)
// is kResourceExhausted; freeing what is not allocated is kNotFound. Messages name the
// addresses in hex.
//
// IdAllocator applies the same machinery to numbered resources: legacy IRQs (exclusive or
// shared with a reference count), MSI vector blocks and KVM memory slots.
//
// Thread-safety: neither class is thread-safe; ResourceManager serialises access.

#ifndef DBS_DEVICE_RESOURCES_ALLOCATOR_H_
#define DBS_DEVICE_RESOURCES_ALLOCATOR_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dbs {

// An inclusive range [min, max] of a 64-bit space.
struct InclusiveRange {
  uint64_t min = 0;
  uint64_t max = 0;

  friend bool operator==(const InclusiveRange&, const InclusiveRange&) = default;
};
std::ostream& operator<<(std::ostream& os, const InclusiveRange& range);
// The name of earlier releases, kept so code written against them compiles.
using Range = InclusiveRange;

enum class AllocPolicy {
  kFirstMatch,  // the lowest fitting address
  kLastMatch,   // the highest fitting address
  kExactMatch,  // exactly at Constraint::min
};

// What an allocation must satisfy: `size` units inside [min, max], starting at a multiple
// of `align` (a power of two).
struct Constraint {
  uint64_t size = 0;
  uint64_t min = 0;
  uint64_t max = std::numeric_limits<uint64_t>::max();
  uint64_t align = 1;
  AllocPolicy policy = AllocPolicy::kFirstMatch;
};

namespace allocator_internal {
struct FreeNode;
struct FreeNodeDeleter {
  void operator()(FreeNode* node) const;
};
// The child links from the root down to a node (links[0] is the root's).
struct TreapPath;
}  // namespace allocator_internal

class IntervalAllocator {
 public:
  // An allocator whose free space is all of `window`.
  // REQUIRES: window.min <= window.max (otherwise the allocator is empty: every allocation
  // fails with kResourceExhausted).
  explicit IntervalAllocator(InclusiveRange window);
  ~IntervalAllocator();
  IntervalAllocator(IntervalAllocator&&) noexcept;
  IntervalAllocator& operator=(IntervalAllocator&&) noexcept;
  IntervalAllocator(const IntervalAllocator&) = delete;
  IntervalAllocator& operator=(const IntervalAllocator&) = delete;

  // Allocates a range per `constraint`. kInvalidArgument for a malformed constraint,
  // kResourceExhausted when nothing fits. O(log n).
  [[nodiscard]] absl::StatusOr<InclusiveRange> Allocate(const Constraint& constraint);

  // Returns an allocated (or reserved) range; it must match an allocation exactly.
  // kNotFound otherwise, kInvalidArgument if min > max. O(log n).
  [[nodiscard]] absl::Status Free(const InclusiveRange& range);

  // Takes a specific range, which must be entirely free and inside the window
  // (kResourceExhausted otherwise; kInvalidArgument if min > max). Freed like an allocation.
  [[nodiscard]] absl::Status Reserve(const InclusiveRange& range);

  // True if `range` is exactly an allocated range.
  bool IsAllocated(const InclusiveRange& range) const;
  // True if every unit of `range` is free.
  bool IsFree(const InclusiveRange& range) const;
  // The free ranges, coalesced, in ascending order. O(n).
  std::vector<InclusiveRange> FreeRanges() const;
  // The allocated ranges in ascending order. O(n).
  std::vector<InclusiveRange> AllocatedRanges() const;
  size_t free_range_count() const { return free_count_; }
  size_t allocated_range_count() const { return allocated_.size(); }
  // The space this allocator manages; nullopt if it was constructed empty.
  std::optional<InclusiveRange> window() const { return window_; }

 private:
  // The free range containing `address`, if any.
  allocator_internal::FreeNode* FreeRangeContaining(uint64_t address) const;
  // Where an allocation goes: its start and the free range that holds it.
  struct Fit {
    uint64_t start;
    allocator_internal::FreeNode* node;
  };
  std::optional<Fit> FindFit(const Constraint& constraint, uint64_t lo, uint64_t hi) const;
  // The links from the root to the free range keyed `start`. REQUIRES: it exists.
  allocator_internal::TreapPath PathTo(uint64_t start);
  // Recomputes the summaries of the nodes `path` names, deepest first.
  static void Refresh(const allocator_internal::TreapPath& path);
  void InsertFree(uint64_t start, uint64_t end);
  // Removes the free range keyed `start`. REQUIRES: it exists.
  void EraseFree(uint64_t start);
  // Removes [start, end] from the free range `node` that contains it.
  void Carve(allocator_internal::FreeNode& node, uint64_t start, uint64_t end);

  std::optional<InclusiveRange> window_;
  allocator_internal::FreeNode* free_root_ = nullptr;  // owned
  size_t free_count_ = 0;
  uint64_t rng_state_;
  absl::btree_map<uint64_t, uint64_t> allocated_;  // start -> end (inclusive)
};

// Allocates numbers from [first, last]: single IDs, aligned blocks, and shared IDs.
class IdAllocator {
 public:
  // REQUIRES: first <= last.
  IdAllocator(uint32_t first, uint32_t last);

  // One exclusive ID: `id` if given, else the lowest free one. kResourceExhausted if taken
  // or none is free; kInvalidArgument if `id` is outside [first, last].
  [[nodiscard]] absl::StatusOr<uint32_t> Allocate(std::optional<uint32_t> id = std::nullopt);

  // `count` consecutive IDs starting at a multiple of `align` (a power of two), at
  // `first_id` exactly if given. Returns the first ID.
  [[nodiscard]] absl::StatusOr<uint32_t> AllocateBlock(
      uint32_t count, uint32_t align = 1, std::optional<uint32_t> first_id = std::nullopt);

  // A shareable ID: `id` if given (joining its sharers if it is already shared), else a
  // free one, else the existing shared ID with the fewest sharers. kResourceExhausted if the
  // ID is held exclusively.
  [[nodiscard]] absl::StatusOr<uint32_t> AllocateShared(std::optional<uint32_t> id = std::nullopt);

  // Releases an exclusive ID, or one reference to a shared ID (the ID is free again when
  // the last sharer releases it). kNotFound if `id` is not allocated.
  [[nodiscard]] absl::Status Free(uint32_t id);
  // Releases a block returned by AllocateBlock. kNotFound unless it matches exactly.
  [[nodiscard]] absl::Status FreeBlock(uint32_t first_id, uint32_t count);

  bool IsFree(uint32_t id) const;
  // Sharers of a shared ID; 0 if it is free or exclusive.
  uint32_t ShareCount(uint32_t id) const;
  uint32_t first() const { return first_; }
  uint32_t last() const { return last_; }

 private:
  absl::Status CheckInside(uint64_t id, uint64_t count) const;

  uint32_t first_;
  uint32_t last_;
  IntervalAllocator ids_;
  absl::flat_hash_map<uint32_t, uint32_t> share_count_;  // shared ID -> sharers
};

}  // namespace dbs

#endif  // DBS_DEVICE_RESOURCES_ALLOCATOR_H_
