// bus/io_bus.h — a map from address ranges to values, read without locks and changed in
// O(log n) per change.
//
// IoBus<V> maps non-overlapping ranges of two address spaces (x86 port I/O and MMIO, see
// bus/bus_range.h) to values of type V (IoManager stores device handles). Each generation
// of the map is an immutable Snapshot published through an atomic pointer; readers find a
// range inside an RCU read section (bus/rcu.h), and writers build the next generation,
// publish it and retire what only the old one named.
//
//   dbs::ReadSection section;
//   const auto& snapshot = bus.snapshot(section);
//   auto hit = snapshot.Find(dbs::AddressSpace::kPio, 0x3fd, 1);
//   if (hit.ok()) use(hit.entry->value, hit.offset);
//
// THE STRUCTURE. Each generation is a persistent B+-tree per address space, 16 keys a node
// (bus/internal/persistent_btree.h). A change copies only the path from the root to the
// leaves it touches; every other node is shared with the previous generation. A registered
// range's entry (range and value) is allocated once and never changes, so generations share
// it too. A leaf holds, beside each base, the range's last address and a small "hot" copy of
// its value (HotOf), so a dispatch reads the leaf and never the entry; an optional tag
// (TagOf) sits in an array of its own.
//
// READ COST. A lookup first tries the leaf slot the same thread last found for a nearby
// address in this very generation (a 16-entry thread-local cache, keyed by a generation id
// that is never reused, so a stale hint costs a search and never a wrong answer): a register
// polled in a loop, like a UART's line status, costs a few compares. Otherwise it descends
// the tree with a fixed four-step branch-free search per node (log16 n levels), then makes
// one comparison for the range's end. The read section around it stores only to the
// thread's own cache line, and a missed hint only to the thread's own storage.
//
// WRITE COST. One change (an insert, a removal or a move) copies O(log n) nodes and retires
// as many; a Batch of changes is applied to one working tree, copying each node at most
// once, validated as a whole and published as one generation, or not at all. The figures
// for 64, 4,096 and 65,536 ranges are in benchmarks/README.md (benchmarks/bus_bench).
//
// WHEN OLD GENERATIONS ARE FREED. A replaced node, and an entry no generation names any
// more, is retired to the RcuDomain with the epoch it was born at, and freed (an entry with
// its value) once no read section can reach it. A reader stalled inside a section keeps
// only what was alive when it loaded its snapshot, not what later generations retired.
// A value stored in the bus therefore outlives every lookup that returned it.
// NEVER BLOCK INSIDE A READ SECTION on a lock a writer holds while it synchronizes.
//
// DELETERS AND LOCKS. Values (and so devices) are destroyed by whichever thread reclaims:
// one that polls the domain while retiring (a writer, or a vCPU thread changing the bus from
// inside a handler), one that calls Synchronize, or the one destroying the domain. Never
// under a lock of this library: Apply retires only after releasing the bus's mutex, and
// Commit hands the retirement back (a Change) so that a caller holding its own lock, as
// IoManager does, releases it first.
//
// CONTRACT. Ranges are validated when inserted: size 0, or a range that runs past the end of
// its space (2^64 for MMIO, 0x10000 for PIO) is kInvalidArgument; a range overlapping a
// registered one in any way (partly, containing, contained, same base) is kAlreadyExists;
// removing or moving a range that is not registered exactly is kNotFound. Lookup: no range
// at the address is kNotFound, an access that starts inside a range and runs past its end is
// kOutOfRange, length 0 is kInvalidArgument. On every error nothing changes. Messages name
// the addresses in hex. Every call gives the basic exception guarantee: if allocating or
// copying a value throws, nothing is published and nothing leaks.
//
// Thread-safety: readers (snapshot(), Find) are wait-free and may run on any number of
// threads; writers serialise on one mutex and never wait for readers, so a writer may run
// inside a read section (a device handler registering a device).

#ifndef DBS_DEVICE_BUS_IO_BUS_H_
#define DBS_DEVICE_BUS_IO_BUS_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "dbs_device/base/mutex.h"
#include "dbs_device/bus/bus_range.h"
#include "dbs_device/bus/internal/persistent_btree.h"
#include "dbs_device/bus/rcu.h"

namespace dbs {

// A registered range and its value. Allocated once when inserted, never changed, and
// retired to the RCU domain when removed, so every generation naming it can point at it.
template <typename V>
struct BusEntry {
  BusRange range;
  V value;
};

// The default hot projection of a value: a pointer to it (see IoBus's HotOf parameter).
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

// The default tag projection: none (see IoBus's TagOf parameter).
template <typename V>
struct NoTag {
  struct None {};
  None operator()(const V&) const { return {}; }
};

// What Find returns: the entry, its hot projection and tag (in the generation's leaf, valid
// as long as the read section), and the offset of the address inside its range.
template <typename V, typename HotOf = PointerToValue<V>, typename TagOf = NoTag<V>>
struct BusLookup {
  using Hot = std::invoke_result_t<HotOf, const V&>;
  using Tag = std::invoke_result_t<TagOf, const V&>;
  const BusEntry<V>* entry = nullptr;
  const Hot* hot = nullptr;
  const Tag* tag = nullptr;  // null when TagOf is NoTag
  uint64_t offset = 0;
  LookupOutcome outcome = LookupOutcome::kNoRange;

  bool ok() const { return outcome == LookupOutcome::kHit; }
};

namespace bus_internal {
// Per thread and address space, a small direct-mapped cache of the leaf slots recent
// lookups found, selected by address bits 2-5, so that a driver alternating between a few
// registers (a UART's data and status, a timer, a PCI config pair) finds each without a
// search. `generation_id` names the generation the slot belongs to; ids are never reused,
// so a hint is followed only inside the generation it came from. The range's bounds are
// copied into the hint, so checking it reads only this thread's storage (the leaf, likely
// evicted in a large tree, is read only when the hint holds). Written only when a lookup
// misses, and only to this thread's own storage.
struct Hint {
  uint64_t generation_id;
  uint64_t base;
  uint64_t last;
  const void* leaf;
  uint32_t slot;
};
inline constexpr size_t kHintSlots = 16;
inline constinit thread_local Hint tls_hint[kAddressSpaces]
                                           [kHintSlots] ABSL_ATTRIBUTE_INITIAL_EXEC = {};
// Ids of generations, process-wide (0 is never used, so an empty hint never matches).
inline std::atomic<uint64_t> g_next_generation_id{1};
}  // namespace bus_internal

// HotOf maps a value to a small, trivially copyable "hot" projection stored in the leaf
// beside each range (for IoManager: the raw device pointer), so a dispatch never reads the
// entry itself. By default, a pointer to the value. TagOf maps it to a second projection
// kept in an array of its own (for IoManager: the device's statistics slot), for what only
// some lookups read, so the records every lookup touches stay small. By default there is
// none.
template <typename V, typename HotOf = PointerToValue<V>, typename TagOf = NoTag<V>>
class IoBus {
 public:
  using LookupResult = BusLookup<V, HotOf, TagOf>;
  using Hot = typename LookupResult::Hot;
  using Tag = typename LookupResult::Tag;
  static_assert(std::is_trivially_copyable_v<Hot>, "the hot projection is copied into leaves");
  static_assert(std::is_trivially_copyable_v<Tag>, "the tag is copied into leaves");
  static constexpr bool kHasTag = !std::is_empty_v<Tag>;

  using Entry = BusEntry<V>;

 private:
  using Leaf = bus_internal::LeafNode<Entry, Hot, Tag>;
  using Editor = bus_internal::TreeEditor<Leaf>;
  using Root = bus_internal::Root;
  struct StoredEntry;
  struct Key {
    explicit Key() = default;
  };

 public:
  // One immutable generation of the map, as readers see it.
  class alignas(64) Snapshot {
   public:
    // Finds the range holding [address, address + length). Wait-free, no allocation.
    ABSL_ATTRIBUTE_ALWAYS_INLINE LookupResult Find(AddressSpace space, uint64_t address,
                                                   uint64_t length) const {
      LookupResult out;
      if (ABSL_PREDICT_FALSE(length == 0)) {
        out.outcome = LookupOutcome::kZeroLength;
        return out;
      }
      const size_t s = static_cast<size_t>(space);
      bus_internal::Hint& hint =
          bus_internal::tls_hint[s][(address >> 2) % bus_internal::kHintSlots];
      const Leaf* leaf;
      uint32_t i;
      uint64_t base, last;
      // The hint holds iff it is of this generation and base <= address <= last (one
      // unsigned comparison).
      if (hint.generation_id == id_ && address - hint.base <= hint.last - hint.base) {
        leaf = static_cast<const Leaf*>(hint.leaf);
        i = hint.slot;
        base = hint.base;
        last = hint.last;
      } else {
        const Root& root = roots_[s];
        if (ABSL_PREDICT_FALSE(root.node == nullptr)) return out;
        const bus_internal::LeafSlot<Leaf> found = bus_internal::FindSlot<Leaf>(root, address);
        leaf = found.leaf;
        i = found.slot;
        base = leaf->bases[i];
        last = leaf->records[i].last;
        if (ABSL_PREDICT_FALSE(base > address)) return out;
        if (ABSL_PREDICT_FALSE(address > last)) return out;
        hint = bus_internal::Hint{id_, base, last, leaf, i};
      }
      out.entry = leaf->entries[i];     // a separate array: a dispatch that needs only `hot`
      out.hot = &leaf->records[i].hot;  // never loads it
      if constexpr (kHasTag) out.tag = &leaf->tags.values[i];
      out.offset = address - base;
      // Inside [address, last]: the access fits iff length - 1 <= last - address.
      out.outcome = length - 1 <= last - address ? LookupOutcome::kHit : LookupOutcome::kPastEnd;
      return out;
    }

    // Find, as a status: kNotFound, kOutOfRange or kInvalidArgument on failure.
    absl::StatusOr<LookupResult> Lookup(AddressSpace space, uint64_t address,
                                        uint64_t length) const {
      LookupResult hit = Find(space, address, length);
      if (hit.ok()) return hit;
      return LookupError(hit.outcome, space, address, length,
                         hit.entry != nullptr ? &hit.entry->range : nullptr);
    }

    // The entry registered exactly at `range`, or null. O(log n).
    const Entry* FindExact(const BusRange& range) const {
      const Root& root = roots_[static_cast<size_t>(range.space)];
      if (root.node == nullptr) return nullptr;
      const auto [leaf, i] = bus_internal::FindSlot<Leaf>(root, range.base);
      if (leaf->bases[i] != range.base) return nullptr;
      return leaf->entries[i]->range.size == range.size ? leaf->entries[i] : nullptr;
    }

    // Calls `f(const Entry&)` for every range of `space` in ascending order.
    template <typename F>
    void ForEach(AddressSpace space, F&& f) const {
      Editor::ForEachLeaf(roots_[static_cast<size_t>(space)], [&f](const Leaf& leaf) {
        for (uint32_t i = 0; i < leaf.meta.count; ++i) f(*leaf.entries[i]);
      });
    }

    size_t size(AddressSpace space) const { return roots_[static_cast<size_t>(space)].size; }
    size_t size() const { return size(AddressSpace::kPio) + size(AddressSpace::kMmio); }
    // 0 for the empty map a bus starts with, then +1 per publication.
    uint64_t generation() const { return generation_; }
    // Levels of the tree of `space` (0 when empty, 1 when its root is a leaf).
    uint32_t height(AddressSpace space) const { return roots_[static_cast<size_t>(space)].height; }

    // Checks the trees' invariants (sorted keys, exact separators, padding, one depth for
    // every leaf, sizes). For tests; O(n).
    absl::Status CheckInvariants() const {
      for (const Root& root : roots_) {
        if (absl::Status s = Editor::Check(root); !s.ok()) return s;
      }
      return absl::OkStatus();
    }

    // Made by IoBus only (a Key is private to it).
    Snapshot(Key, const std::array<Root, kAddressSpaces>& roots, uint64_t generation,
             uint64_t birth)
        : birth_(birth),
          id_(bus_internal::g_next_generation_id.fetch_add(1, std::memory_order_relaxed)),
          roots_(roots),
          generation_(generation) {}

   private:
    friend class IoBus;

    // What a lookup reads first, in one cache line.
    uint64_t birth_;  // the epoch read before its change: what ReadSection::Load compares
    uint64_t id_;     // process-wide unique, for the thread-local hints
    std::array<Root, kAddressSpaces> roots_;
    uint64_t generation_;
  };

  // A set of changes published together as one generation, or not at all.
  class Batch {
   public:
    Batch& Insert(const BusRange& range, V value) {
      ops_.push_back(InsertOp{range, std::move(value)});
      return *this;
    }
    Batch& Remove(const BusRange& range) {
      ops_.push_back(RemoveOp{range});
      return *this;
    }
    // Moves the value registered exactly at `from` to `new_base` (same size).
    Batch& Move(const BusRange& from, uint64_t new_base) {
      ops_.push_back(MoveOp{from, new_base});
      return *this;
    }
    size_t size() const { return ops_.size(); }
    bool empty() const { return ops_.empty(); }

   private:
    friend class IoBus;
    struct InsertOp {
      BusRange range;
      V value;
    };
    struct RemoveOp {
      BusRange range;
    };
    struct MoveOp {
      BusRange from;
      uint64_t new_base;
    };
    using Op = std::variant<InsertOp, RemoveOp, MoveOp>;
    absl::InlinedVector<Op, 1> ops_;  // a single change allocates nothing here
  };

  // What Commit did, and what it leaves to free. The entries it added and removed are
  // listed (net: an entry added and removed by the same batch is in neither list) and stay
  // valid until Finish. Finish, or the destructor, hands what the change unpublished to the
  // RCU domain and frees what it built and never published; either may run deleters (and
  // so destroy values) on the calling thread, so the caller must hold no lock that a value's
  // destructor might take.
  class Change {
   public:
    Change() = default;
    Change(Change&& other) noexcept
        : domain_(std::exchange(other.domain_, nullptr)),
          status_(std::move(other.status_)),
          published_(std::exchange(other.published_, false)),
          ops_(std::move(other.ops_)),
          nodes_(std::move(other.nodes_)),
          fresh_entries_(std::move(other.fresh_entries_)),
          dropped_entries_(std::move(other.dropped_entries_)),
          inserted_(std::move(other.inserted_)),
          removed_(std::move(other.removed_)) {}
    // Finishes this change, then takes `other`'s place (by reconstruction: the batch's
    // values need not be assignable).
    Change& operator=(Change&& other) noexcept {
      if (this != &other) {
        this->~Change();
        new (this) Change(std::move(other));
      }
      return *this;
    }
    ~Change() { Finish(); }

    bool ok() const { return status_.ok(); }
    const absl::Status& status() const { return status_; }
    // The entries the change added and removed; empty unless it was published.
    absl::Span<const Entry* const> inserted() const { return inserted_; }
    absl::Span<const Entry* const> removed() const { return removed_; }

    // Retires what the published change replaced and frees what it built but dropped; or,
    // for a change that was not published, frees everything it built. Idempotent.
    void Finish() {
      if (domain_ == nullptr) return;
      RcuDomain* domain = std::exchange(domain_, nullptr);
      // Moved out first: a deleter may run code that commits again.
      bus_internal::NodeLedger nodes = std::move(nodes_);
      EntryList discard = published_ ? std::move(dropped_entries_) : std::move(fresh_entries_);
      decltype(ops_) ops = std::move(ops_);
      if (published_) {
        for (const RcuDomain::Retiree& node : nodes.dropped) node.deleter(node.object);
        domain->RetireAll(nodes.replaced);
      } else {
        for (const RcuDomain::Retiree& node : nodes.fresh) node.deleter(node.object);
      }
      for (StoredEntry* entry : discard) delete entry;
      ops.clear();
    }

   private:
    friend class IoBus;
    Change(RcuDomain* domain, decltype(Batch::ops_)&& ops)
        : domain_(domain), ops_(std::move(ops)) {}

    using EntryList = absl::InlinedVector<StoredEntry*, 2>;
    using EntryView = absl::InlinedVector<const Entry*, 2>;

    RcuDomain* domain_ = nullptr;  // null once finished
    absl::Status status_;
    bool published_ = false;
    decltype(Batch::ops_) ops_;       // what the batch's values left behind
    bus_internal::NodeLedger nodes_;  // `replaced` also holds removed entries
    EntryList fresh_entries_;         // created by the change
    EntryList dropped_entries_;       // created and removed by it
    EntryView inserted_;
    EntryView removed_;
  };

  explicit IoBus(RcuDomain& domain = RcuDomain::Default())
      : domain_(domain),
        current_(bus_internal::NewAligned<Snapshot>(Key(), std::array<Root, kAddressSpaces>{}, 0,
                                                    RcuDomain::CurrentEpoch())) {}

  // Retires the last generation whole: its nodes, its entries and so its values, freed
  // after a grace period.
  // REQUIRES: no thread still uses the bus.
  ~IoBus() {
    const Snapshot* last = current_.load(std::memory_order_relaxed);
    std::vector<RcuDomain::Retiree> all;
    all.reserve(last->size() + 2);
    for (const Root& root : last->roots_) {
      Editor::CollectNodes(root, all);
      Editor::ForEachLeaf(root, [&all](const Leaf& leaf) {
        for (uint32_t i = 0; i < leaf.meta.count; ++i) all.push_back(RetireeOf(leaf.entries[i]));
      });
    }
    all.push_back(RetireeOfSnapshot(last));
    domain_.RetireAll(all);
  }

  IoBus(const IoBus&) = delete;
  IoBus& operator=(const IoBus&) = delete;

  // The current generation. Valid while `section` lives.
  ABSL_ATTRIBUTE_ALWAYS_INLINE const Snapshot& snapshot(const ReadSection& section) const {
    return *section.Load(current_, [](const Snapshot* s) { return s->birth_; });
  }

  // Registers `value` at `range`.
  [[nodiscard]] absl::Status Insert(const BusRange& range, V value) ABSL_LOCKS_EXCLUDED(mu_) {
    Batch batch;
    batch.Insert(range, std::move(value));
    return Apply(std::move(batch));
  }

  // Unregisters the range registered exactly at `range`.
  [[nodiscard]] absl::Status Remove(const BusRange& range) ABSL_LOCKS_EXCLUDED(mu_) {
    Batch batch;
    batch.Remove(range);
    return Apply(std::move(batch));
  }

  // Moves the range registered exactly at `from` to `new_base`, atomically: every lookup
  // finds the value at exactly one of the two places.
  [[nodiscard]] absl::Status Move(const BusRange& from, uint64_t new_base)
      ABSL_LOCKS_EXCLUDED(mu_) {
    Batch batch;
    batch.Move(from, new_base);
    return Apply(std::move(batch));
  }

  // Commit, then Finish: what the change unpublished is retired before this returns.
  [[nodiscard]] absl::Status Apply(Batch batch) ABSL_LOCKS_EXCLUDED(mu_) {
    Change change = Commit(std::move(batch));
    change.Finish();
    return change.status();
  }

  // Applies every operation of `batch` in order and publishes the result as one generation;
  // on the first failing operation nothing is published and the change's status is its
  // error (prefixed with its position when the batch holds more than one). Nothing is
  // retired or freed until the Change is finished or destroyed.
  [[nodiscard]] Change Commit(Batch batch) ABSL_LOCKS_EXCLUDED(mu_) {
    // Whatever is left of the batch's values dies with the change.
    Change change(&domain_, std::move(batch.ops_));
    if (change.ops_.empty()) return change;
    {
      internal::MutexLock lock(&mu_);
      const Snapshot* old = current_.load(std::memory_order_relaxed);
      Writer writer(change, old, ++change_serial_);
      const size_t n = change.ops_.size();
      for (size_t i = 0; i < n; ++i) {
        absl::Status status = std::visit(
            [&writer](auto& op) ABSL_NO_THREAD_SAFETY_ANALYSIS { return writer.Apply(op); },
            change.ops_[i]);
        if (!status.ok()) {
          change.status_ =
              n == 1 ? status
                     : absl::Status(status.code(), absl::StrFormat("operation %zu of %zu: %s",
                                                                   i + 1, n, status.message()));
          change.inserted_.clear();
          change.removed_.clear();
          return change;
        }
      }
      Editor::PadFresh(change.nodes_);
      auto* next = bus_internal::NewAligned<Snapshot>(Key(), writer.roots(), old->generation_ + 1,
                                                      writer.birth());
      change.nodes_.replaced.push_back(RetireeOfSnapshot(old));
      current_.store(next, std::memory_order_release);
      change.published_ = true;
    }
    return change;
  }

  // The generation a new reader would see.
  uint64_t generation() const {
    ReadSection section;
    return snapshot(section).generation();
  }

  RcuDomain& domain() const { return domain_; }

 private:
  // An entry with what reclamation needs to know of it.
  struct StoredEntry final : Entry {
    StoredEntry(const BusRange& range, V value, uint64_t birth, uint64_t change)
        : Entry{range, std::move(value)}, birth(birth), change(change) {}
    uint64_t birth;   // the epoch read before the change that inserted it
    uint64_t change;  // that change's serial
  };

  static RcuDomain::Retiree RetireeOf(const Entry* entry) {
    const auto* stored = static_cast<const StoredEntry*>(entry);
    return RcuDomain::Retiree{const_cast<StoredEntry*>(stored),
                              [](void* p) { delete static_cast<StoredEntry*>(p); },
                              sizeof(StoredEntry), stored->birth};
  }
  static RcuDomain::Retiree RetireeOfSnapshot(const Snapshot* snapshot) {
    return RcuDomain::Retiree{const_cast<Snapshot*>(snapshot), &bus_internal::DeleteNode<Snapshot>,
                              sizeof(Snapshot), snapshot->birth_};
  }

  // Applies one batch's operations to a working copy of the current trees.
  class Writer {
   public:
    Writer(Change& change, const Snapshot* old, uint64_t serial)
        : change_(change),
          serial_(serial),
          birth_(RcuDomain::CurrentEpoch()),
          editors_{Editor(old->roots_[0], serial_, birth_, change.nodes_),
                   Editor(old->roots_[1], serial_, birth_, change.nodes_)} {}

    std::array<Root, kAddressSpaces> roots() const {
      return {editors_[0].root(), editors_[1].root()};
    }
    uint64_t birth() const { return birth_; }

    absl::Status Apply(typename Batch::InsertOp& op) {
      if (absl::Status valid = ValidateBusRange(op.range); !valid.ok()) return valid;
      return Insert(editor_for(op.range.space), op.range, std::move(op.value));
    }

    absl::Status Apply(typename Batch::RemoveOp& op) {
      const Entry* entry = editor_for(op.range.space).EraseExact(op.range.base, op.range.last());
      if (entry == nullptr) return NotRegistered(op.range);
      Removed(entry);
      return absl::OkStatus();
    }

    absl::Status Apply(typename Batch::MoveOp& op) {
      Editor& editor = editor_for(op.from.space);
      const BusRange to{op.from.space, op.new_base, op.from.size};
      // The range may move onto addresses it covers now: it leaves first, and the new place
      // is checked against the others only. A failure leaves the whole batch unpublished.
      const Entry* from = editor.EraseExact(op.from.base, op.from.last());
      if (from == nullptr) return NotRegistered(op.from);
      Removed(from);
      if (absl::Status valid = ValidateBusRange(to); !valid.ok()) return valid;
      // Readers of older generations still use `from`: the moved range gets a new entry
      // holding a copy of the value.
      return Insert(editor, to, from->value);
    }

   private:
    Editor& editor_for(AddressSpace space) { return editors_[static_cast<size_t>(space)]; }

    // kAlreadyExists if `range` shares an address with a range of `editor`'s tree.
    absl::Status Insert(Editor& editor, const BusRange& range, V value) {
      bus_internal::ReserveOneMore(change_.fresh_entries_);  // so that recording it cannot throw
      bus_internal::ReserveOneMore(change_.inserted_);
      // Owned by the change from the start: freed with it, after the bus's lock, whatever
      // happens next.
      auto* entry = new StoredEntry(range, std::move(value), birth_, serial_);
      change_.fresh_entries_.push_back(entry);
      const typename Editor::Position overlap = editor.InsertUnlessOverlapping(typename Leaf::Slot{
          range.base, {range.last(), HotOf()(entry->value)}, TagOf()(entry->value), entry});
      if (overlap.leaf != nullptr) {
        return absl::AlreadyExistsError(
            absl::StrFormat("%s overlaps the registered %s", ToString(range),
                            ToString(overlap.leaf->entries[overlap.slot]->range)));
      }
      change_.inserted_.push_back(entry);
      return absl::OkStatus();
    }

    // `entry` left the working tree: retired with the change if it was published before,
    // freed with it if this change created it.
    void Removed(const Entry* entry) {
      const auto* stored = static_cast<const StoredEntry*>(entry);
      if (stored->change == serial_) {
        auto& inserted = change_.inserted_;
        inserted.erase(std::find(inserted.begin(), inserted.end(), entry));
        change_.dropped_entries_.push_back(const_cast<StoredEntry*>(stored));
      } else {
        change_.removed_.push_back(entry);
        change_.nodes_.replaced.push_back(RetireeOf(entry));
      }
    }

    static absl::Status NotRegistered(const BusRange& range) {
      return absl::NotFoundError(absl::StrFormat("%s is not registered exactly", ToString(range)));
    }

    Change& change_;
    const uint64_t serial_;
    const uint64_t birth_;
    std::array<Editor, kAddressSpaces> editors_;
  };

  RcuDomain& domain_;
  internal::Mutex mu_;  // serialises writers
  uint64_t change_serial_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<const Snapshot*> current_;
};

}  // namespace dbs

#endif  // DBS_DEVICE_BUS_IO_BUS_H_
