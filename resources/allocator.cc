#include "dbs_device/resources/allocator.h"

#include <algorithm>
#include <array>
#include <bit>
#include <tuple>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_format.h"

namespace dbs {

std::ostream& operator<<(std::ostream& os, const InclusiveRange& range) {
  return os << absl::StrFormat("[%#x, %#x]", range.min, range.max);
}

namespace allocator_internal {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// The alignments whose capacities each node summarises: 2^kClassBits[i]. Byte, word and
// small-block alignments for ports and MSI vectors, 4 KiB pages, 64 KiB, 2 MiB and 1 GiB
// pages. A request aligned to one of them is searched exactly; one between two classes
// (a BAR aligned to its own 128 KiB, say) is filtered by the class below it, whose capacity
// bounds its own from above, and decided exactly at each node the filter lets through.
constexpr std::array<int, 8> kClassBits = {0, 2, 4, 8, 12, 16, 21, 30};
constexpr int kClasses = static_cast<int>(kClassBits.size());

// The summary class for alignment 2^k: the largest class not above it.
constexpr int ClassOf(int k) {
  int c = 0;
  while (c + 1 < kClasses && kClassBits[c + 1] <= k) ++c;
  return c;
}

// A free range [start, end] in the treap, with the per-class capacity summary.
struct FreeNode {
  uint64_t start;
  uint64_t end;
  uint64_t priority;
  FreeNode* left = nullptr;
  FreeNode* right = nullptr;
  // best[c]: the largest number of units that fit in one free range of this subtree when
  // starting at a multiple of 2^kClassBits[c]; saturates at 2^64-1; 0 when none fits.
  std::array<uint64_t, kClasses> best{};
};

void FreeNodeDeleter::operator()(FreeNode* node) const {
  // Iterative, so a degenerate tree cannot overflow the stack.
  std::vector<FreeNode*> pending;
  if (node != nullptr) pending.push_back(node);
  while (!pending.empty()) {
    FreeNode* n = pending.back();
    pending.pop_back();
    if (n->left != nullptr) pending.push_back(n->left);
    if (n->right != nullptr) pending.push_back(n->right);
    delete n;
  }
}

namespace {

// The first multiple of 2^k at or above `address`, if it exists in 64 bits.
std::optional<uint64_t> AlignUp(uint64_t address, uint64_t align) {
  const uint64_t mask = align - 1;
  if ((address & mask) == 0) return address;
  if (address > kMax - mask) return std::nullopt;
  return (address + mask) & ~mask;
}

uint64_t AlignDown(uint64_t address, uint64_t align) { return address & ~(align - 1); }

// Units that fit in [start, end] starting at a multiple of `align`; saturating, 0 if none.
uint64_t Capacity(uint64_t start, uint64_t end, uint64_t align) {
  std::optional<uint64_t> first = AlignUp(start, align);
  if (!first.has_value() || *first > end) return 0;
  const uint64_t span = end - *first;  // units - 1
  return span == kMax ? kMax : span + 1;
}

// The summaries of an absent child: no capacity at any class.
constexpr std::array<uint64_t, kClasses> kNoCapacity{};

// Recomputes `n`'s summary from its range and its children's; true if it changed.
bool Update(FreeNode* n) {
  const std::array<uint64_t, kClasses>& left = n->left != nullptr ? n->left->best : kNoCapacity;
  const std::array<uint64_t, kClasses>& right = n->right != nullptr ? n->right->best : kNoCapacity;
  const std::array<uint64_t, kClasses> before = n->best;
  for (int c = 0; c < kClasses; ++c) {
    // Capacity(start, end, 2^bits) without branches: the first aligned address at or above
    // start (0 capacity if that wraps past 2^64 or lies past end).
    const uint64_t mask = (uint64_t{1} << kClassBits[c]) - 1;
    const uint64_t first = (n->start + mask) & ~mask;
    const uint64_t span = n->end - first;  // units - 1 when it fits
    const bool fits = first >= n->start && first <= n->end;
    const uint64_t own = fits ? (span == kMax ? kMax : span + 1) : 0;
    n->best[c] = std::max(own, std::max(left[c], right[c]));
  }
  return n->best != before;
}

// Splits `t` into keys < key and keys >= key.
std::pair<FreeNode*, FreeNode*> Split(FreeNode* t, uint64_t key) {
  if (t == nullptr) return {nullptr, nullptr};
  if (t->start < key) {
    auto [l, r] = Split(t->right, key);
    t->right = l;
    Update(t);
    return {t, r};
  }
  auto [l, r] = Split(t->left, key);
  t->left = r;
  Update(t);
  return {l, t};
}

// Joins two treaps where every key of `a` is below every key of `b`.
FreeNode* Merge(FreeNode* a, FreeNode* b) {
  if (a == nullptr) return b;
  if (b == nullptr) return a;
  if (a->priority > b->priority) {
    a->right = Merge(a->right, b);
    Update(a);
    return a;
  }
  b->left = Merge(a, b->left);
  Update(b);
  return b;
}

// The node with the lowest (kLowest) or highest start in [lo, hi] whose range fits `size`
// at alignment 2^k. `lo_ok` / `hi_ok` say that every key of the subtree is already known to
// be >= lo / <= hi. A subtree whose summary for k's class is below `size` holds no fit;
// once inside the window with k a class of its own, the summary is exact and the walk
// follows one path.
template <bool kLowest>
const FreeNode* Extreme(const FreeNode* t, uint64_t lo, uint64_t hi, bool lo_ok, bool hi_ok, int k,
                        uint64_t size) {
  const int c = ClassOf(k);
  while (t != nullptr && t->best[c] >= size) {
    if (!lo_ok && t->start < lo) {
      t = t->right;
      continue;
    }
    if (!hi_ok && t->start > hi) {
      t = t->left;
      continue;
    }
    // `t` is inside: try the nearer subtree first, then `t`, then go on to the farther one.
    const FreeNode* found = kLowest ? Extreme<kLowest>(t->left, lo, hi, lo_ok, true, k, size)
                                    : Extreme<kLowest>(t->right, lo, hi, true, hi_ok, k, size);
    if (found != nullptr) return found;
    if (Capacity(t->start, t->end, uint64_t{1} << k) >= size) return t;
    if (kLowest) {
      t = t->right;
      lo_ok = true;
    } else {
      t = t->left;
      hi_ok = true;
    }
  }
  return nullptr;
}

// Lowest / highest aligned start of `size` units inside [lo, hi], if any.
std::optional<uint64_t> LowestFit(uint64_t lo, uint64_t hi, uint64_t size, uint64_t align) {
  std::optional<uint64_t> start = AlignUp(lo, align);
  if (!start.has_value() || *start > hi || hi - *start < size - 1) return std::nullopt;
  return start;
}

std::optional<uint64_t> HighestFit(uint64_t lo, uint64_t hi, uint64_t size, uint64_t align) {
  if (hi - lo < size - 1) return std::nullopt;
  const uint64_t start = AlignDown(hi - (size - 1), align);
  if (start < lo) return std::nullopt;
  return start;
}

}  // namespace
}  // namespace allocator_internal

using allocator_internal::FreeNode;
using allocator_internal::kMax;

IntervalAllocator::IntervalAllocator(InclusiveRange window)
    : rng_state_(reinterpret_cast<uintptr_t>(this) ^ 0x9e3779b97f4a7c15ull) {
  if (window.min <= window.max) {
    window_ = window;
    InsertFree(window.min, window.max);
  }
}

IntervalAllocator::~IntervalAllocator() { allocator_internal::FreeNodeDeleter()(free_root_); }

IntervalAllocator::IntervalAllocator(IntervalAllocator&& other) noexcept
    : window_(other.window_),
      free_root_(std::exchange(other.free_root_, nullptr)),
      free_count_(std::exchange(other.free_count_, 0)),
      rng_state_(other.rng_state_),
      allocated_(std::move(other.allocated_)) {}

IntervalAllocator& IntervalAllocator::operator=(IntervalAllocator&& other) noexcept {
  if (this != &other) {
    allocator_internal::FreeNodeDeleter()(free_root_);
    window_ = other.window_;
    free_root_ = std::exchange(other.free_root_, nullptr);
    free_count_ = std::exchange(other.free_count_, 0);
    rng_state_ = other.rng_state_;
    allocated_ = std::move(other.allocated_);
  }
  return *this;
}

namespace allocator_internal {
// Treap depth is O(log n) in expectation; the links live inline up to 64 levels.
struct TreapPath {
  absl::InlinedVector<FreeNode**, 64> links;
};
}  // namespace allocator_internal

using allocator_internal::TreapPath;

TreapPath IntervalAllocator::PathTo(uint64_t start) {
  TreapPath path;
  FreeNode** link = &free_root_;
  while (true) {
    path.links.push_back(link);
    FreeNode* t = *link;
    if (t->start == start) return path;
    link = start < t->start ? &t->left : &t->right;
  }
}

void IntervalAllocator::Refresh(const TreapPath& path) {
  // A node's summary depends only on its range and its children's summaries, and only this
  // path changed: once one node's summary comes out the same, so do all above it.
  for (auto it = path.links.rbegin(); it != path.links.rend(); ++it) {
    if (**it != nullptr && !allocator_internal::Update(**it)) return;
  }
}

void IntervalAllocator::InsertFree(uint64_t start, uint64_t end) {
  // splitmix64: random priorities, independent of the input.
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  auto* node = new FreeNode{start, end, z ^ (z >> 31)};
  // Down to where the node's priority puts it; the subtree found there splits around it.
  TreapPath path;
  FreeNode** link = &free_root_;
  while (*link != nullptr && (*link)->priority > node->priority) {
    path.links.push_back(link);
    link = start < (*link)->start ? &(*link)->left : &(*link)->right;
  }
  std::tie(node->left, node->right) = allocator_internal::Split(*link, start);
  allocator_internal::Update(node);
  *link = node;
  Refresh(path);
  ++free_count_;
}

void IntervalAllocator::EraseFree(uint64_t start) {
  TreapPath path = PathTo(start);
  FreeNode** link = path.links.back();
  FreeNode* target = *link;
  *link = allocator_internal::Merge(target->left, target->right);
  delete target;
  --free_count_;
  path.links.pop_back();
  Refresh(path);
}

FreeNode* IntervalAllocator::FreeRangeContaining(uint64_t address) const {
  FreeNode* t = free_root_;
  FreeNode* candidate = nullptr;
  while (t != nullptr) {
    if (t->start <= address) {
      candidate = t;
      t = t->right;
    } else {
      t = t->left;
    }
  }
  if (candidate != nullptr && candidate->end >= address) return candidate;
  return nullptr;
}

void IntervalAllocator::Carve(FreeNode& node, uint64_t start, uint64_t end) {
  const uint64_t free_start = node.start;
  const uint64_t free_end = node.end;
  if (free_start == start && free_end == end) {
    EraseFree(free_start);
  } else {
    // Shrinking a range in place keeps the key order: its neighbours lie outside it.
    TreapPath path = PathTo(free_start);
    if (free_start == start) {
      node.start = end + 1;
    } else {
      node.end = start - 1;
    }
    Refresh(path);
    if (free_start < start && end < free_end) InsertFree(end + 1, free_end);
  }
  allocated_.emplace(start, end);
}

// The allocation start for `constraint` clipped to [lo, hi], by policy, and the free range
// holding it; nullopt if none.
std::optional<IntervalAllocator::Fit> IntervalAllocator::FindFit(const Constraint& c, uint64_t lo,
                                                                 uint64_t hi) const {
  using allocator_internal::HighestFit;
  using allocator_internal::LowestFit;
  const int k = std::countr_zero(c.align);
  // At most two free ranges straddle the window's edges; the rest lie wholly inside it,
  // where the subtree summaries apply.
  FreeNode* left_edge = FreeRangeContaining(lo);
  FreeNode* right_edge = FreeRangeContaining(hi);
  if (right_edge == left_edge) right_edge = nullptr;
  // The ranges wholly inside are those keyed in [inside_lo, inside_hi]: after the left
  // edge's range and before the right edge's (which, being a different range containing
  // hi, starts above lo).
  bool inside_empty = false;
  uint64_t inside_lo = lo;
  uint64_t inside_hi = hi;
  if (left_edge != nullptr) {
    if (left_edge->end >= hi) {
      inside_empty = true;
    } else {
      inside_lo = left_edge->end + 1;
    }
  }
  if (right_edge != nullptr) inside_hi = right_edge->start - 1;
  if (inside_lo > inside_hi) inside_empty = true;

  auto fit_in = [&](FreeNode* n, uint64_t from, uint64_t to, bool lowest) -> std::optional<Fit> {
    const std::optional<uint64_t> start =
        lowest ? LowestFit(from, to, c.size, c.align) : HighestFit(from, to, c.size, c.align);
    if (!start.has_value()) return std::nullopt;
    return Fit{*start, n};
  };
  auto clipped = [&](FreeNode* n, bool lowest) -> std::optional<Fit> {
    if (n == nullptr) return std::nullopt;
    return fit_in(n, std::max(n->start, lo), std::min(n->end, hi), lowest);
  };
  auto inside = [&](bool lowest) -> std::optional<Fit> {
    if (inside_empty) return std::nullopt;
    // Extreme walks the tree read-only; the node it returns is this allocator's to change.
    auto* n = const_cast<FreeNode*>(
        lowest ? allocator_internal::Extreme<true>(free_root_, inside_lo, inside_hi, false, false,
                                                   k, c.size)
               : allocator_internal::Extreme<false>(free_root_, inside_lo, inside_hi, false, false,
                                                    k, c.size));
    if (n == nullptr) return std::nullopt;
    return fit_in(n, n->start, n->end, lowest);
  };

  if (c.policy == AllocPolicy::kLastMatch) {
    if (auto at = clipped(right_edge, false)) return at;
    if (auto at = inside(false)) return at;
    return clipped(left_edge, false);
  }
  if (auto at = clipped(left_edge, true)) return at;
  if (auto at = inside(true)) return at;
  return clipped(right_edge, true);
}

absl::StatusOr<InclusiveRange> IntervalAllocator::Allocate(const Constraint& c) {
  if (c.size == 0) {
    return absl::InvalidArgumentError("allocation of size 0");
  }
  if (!std::has_single_bit(c.align)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("alignment %#x is not a power of two", c.align));
  }
  if (c.min > c.max) {
    return absl::InvalidArgumentError(
        absl::StrFormat("constraint window [%#x, %#x] has min > max", c.min, c.max));
  }
  if (c.max - c.min < c.size - 1) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("size %#x is larger than the window [%#x, %#x]", c.size, c.min, c.max));
  }
  if (!window_.has_value() || c.max < window_->min || c.min > window_->max) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("window [%#x, %#x] lies outside the allocator's space", c.min, c.max));
  }
  const uint64_t lo = std::max(c.min, window_->min);
  const uint64_t hi = std::min(c.max, window_->max);

  std::optional<Fit> fit;
  if (c.policy == AllocPolicy::kExactMatch) {
    if (c.min % c.align != 0) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("exact address %#x is not aligned to %#x", c.min, c.align));
    }
    FreeNode* n = FreeRangeContaining(c.min);
    if (n != nullptr && c.min >= lo && std::min(n->end, hi) - c.min >= c.size - 1) {
      fit = Fit{c.min, n};
    }
  } else {
    fit = FindFit(c, lo, hi);
  }
  if (!fit.has_value()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "no free range of size %#x aligned to %#x in [%#x, %#x]", c.size, c.align, c.min, c.max));
  }
  const InclusiveRange range{fit->start, fit->start + (c.size - 1)};
  Carve(*fit->node, range.min, range.max);
  return range;
}

absl::Status IntervalAllocator::Reserve(const InclusiveRange& range) {
  if (range.min > range.max) {
    return absl::InvalidArgumentError(
        absl::StrFormat("range [%#x, %#x] has min > max", range.min, range.max));
  }
  FreeNode* n = FreeRangeContaining(range.min);
  if (n == nullptr || n->end < range.max) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("range [%#x, %#x] is not entirely free", range.min, range.max));
  }
  Carve(*n, range.min, range.max);
  return absl::OkStatus();
}

absl::Status IntervalAllocator::Free(const InclusiveRange& range) {
  if (range.min > range.max) {
    return absl::InvalidArgumentError(
        absl::StrFormat("range [%#x, %#x] has min > max", range.min, range.max));
  }
  auto it = allocated_.find(range.min);
  if (it == allocated_.end() || it->second != range.max) {
    return absl::NotFoundError(
        absl::StrFormat("range [%#x, %#x] is not allocated", range.min, range.max));
  }
  allocated_.erase(it);
  // Coalesce with the free neighbours in place, taking care at 0 and 2^64-1.
  FreeNode* below = range.min > 0 ? FreeRangeContaining(range.min - 1) : nullptr;
  FreeNode* above = range.max < kMax ? FreeRangeContaining(range.max + 1) : nullptr;
  if (below != nullptr) {
    uint64_t end = range.max;
    if (above != nullptr) {
      end = above->end;
      EraseFree(above->start);
    }
    TreapPath path = PathTo(below->start);
    below->end = end;
    Refresh(path);
  } else if (above != nullptr) {
    TreapPath path = PathTo(above->start);
    above->start = range.min;
    Refresh(path);
  } else {
    InsertFree(range.min, range.max);
  }
  return absl::OkStatus();
}

bool IntervalAllocator::IsAllocated(const InclusiveRange& range) const {
  auto it = allocated_.find(range.min);
  return it != allocated_.end() && it->second == range.max;
}

bool IntervalAllocator::IsFree(const InclusiveRange& range) const {
  if (range.min > range.max) return false;
  const FreeNode* n = FreeRangeContaining(range.min);
  return n != nullptr && n->end >= range.max;
}

std::vector<InclusiveRange> IntervalAllocator::FreeRanges() const {
  std::vector<InclusiveRange> out;
  std::vector<const FreeNode*> stack;
  const FreeNode* t = free_root_;
  while (t != nullptr || !stack.empty()) {
    while (t != nullptr) {
      stack.push_back(t);
      t = t->left;
    }
    t = stack.back();
    stack.pop_back();
    out.push_back(InclusiveRange{t->start, t->end});
    t = t->right;
  }
  return out;
}

std::vector<InclusiveRange> IntervalAllocator::AllocatedRanges() const {
  std::vector<InclusiveRange> out;
  out.reserve(allocated_.size());
  for (const auto& [start, end] : allocated_) out.push_back(InclusiveRange{start, end});
  return out;
}

// ---------------------------------------------------------------------------------------

IdAllocator::IdAllocator(uint32_t first, uint32_t last)
    : first_(first), last_(last), ids_(InclusiveRange{first, last}) {}

absl::Status IdAllocator::CheckInside(uint64_t id, uint64_t count) const {
  if (count == 0) return absl::InvalidArgumentError("count of 0 IDs");
  if (id < first_ || id > last_ || last_ - id < count - 1) {
    return absl::InvalidArgumentError(absl::StrFormat("IDs %u..%u are outside the pool [%u, %u]",
                                                      id, id + count - 1, first_, last_));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> IdAllocator::Allocate(std::optional<uint32_t> id) {
  return AllocateBlock(1, 1, id);
}

absl::StatusOr<uint32_t> IdAllocator::AllocateBlock(uint32_t count, uint32_t align,
                                                    std::optional<uint32_t> first_id) {
  if (count == 0) return absl::InvalidArgumentError("block of 0 IDs");
  Constraint c{count, first_, last_, align, AllocPolicy::kFirstMatch};
  if (first_id.has_value()) {
    if (absl::Status inside = CheckInside(*first_id, count); !inside.ok()) return inside;
    c.min = *first_id;
    c.policy = AllocPolicy::kExactMatch;
  }
  absl::StatusOr<InclusiveRange> range = ids_.Allocate(c);
  if (!range.ok()) return range.status();
  return static_cast<uint32_t>(range->min);
}

absl::StatusOr<uint32_t> IdAllocator::AllocateShared(std::optional<uint32_t> id) {
  if (id.has_value()) {
    if (auto it = share_count_.find(*id); it != share_count_.end()) {
      ++it->second;
      return *id;
    }
    absl::StatusOr<uint32_t> taken = Allocate(id);
    if (!taken.ok()) {
      if (taken.status().code() == absl::StatusCode::kResourceExhausted) {
        return absl::ResourceExhaustedError(absl::StrFormat("ID %u is held exclusively", *id));
      }
      return taken.status();
    }
    share_count_[*taken] = 1;
    return taken;
  }
  if (absl::StatusOr<uint32_t> fresh = Allocate(); fresh.ok()) {
    share_count_[*fresh] = 1;
    return fresh;
  }
  if (share_count_.empty()) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("no free or shareable ID in [%u, %u]", first_, last_));
  }
  // The least shared ID; lowest number on ties, so the choice is deterministic.
  auto least = share_count_.begin();
  for (auto it = share_count_.begin(); it != share_count_.end(); ++it) {
    if (it->second < least->second || (it->second == least->second && it->first < least->first)) {
      least = it;
    }
  }
  ++least->second;
  return least->first;
}

absl::Status IdAllocator::Free(uint32_t id) {
  if (auto it = share_count_.find(id); it != share_count_.end()) {
    if (--it->second > 0) return absl::OkStatus();
    share_count_.erase(it);
  }
  return ids_.Free(InclusiveRange{id, id});
}

absl::Status IdAllocator::FreeBlock(uint32_t first_id, uint32_t count) {
  if (count == 0) return absl::InvalidArgumentError("block of 0 IDs");
  if (uint64_t{first_id} + count - 1 > std::numeric_limits<uint32_t>::max()) {
    return absl::NotFoundError(absl::StrFormat("block %u+%u is not allocated", first_id, count));
  }
  if (count == 1 && share_count_.contains(first_id)) return Free(first_id);
  return ids_.Free(InclusiveRange{first_id, uint64_t{first_id} + count - 1});
}

bool IdAllocator::IsFree(uint32_t id) const { return ids_.IsFree(InclusiveRange{id, id}); }

uint32_t IdAllocator::ShareCount(uint32_t id) const {
  auto it = share_count_.find(id);
  return it == share_count_.end() ? 0 : it->second;
}

}  // namespace dbs
