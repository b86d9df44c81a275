// bus/io_bus.h — a map from address ranges to values, read without locks.
//
// IoBus<V> maps non-overlapping ranges of two address spaces (x86 port I/O, 16-bit, and
// MMIO, 64-bit) to values of type V (IoManager stores device pointers). Each generation of
// the map is an immutable Snapshot published through an atomic pointer; readers find a range
// inside an RCU read section (bus/rcu.h) and writers change, validate and publish a new
// generation, retiring the old one to the RCU domain.
//
//   dbs::ReadSection section;
//   const auto& snapshot = bus.snapshot(section);
//   auto hit = snapshot.Find(dbs::AddressSpace::kPio, 0x3fd, 1);
//   if (hit.ok()) use(hit.entry->value, hit.offset);
//
// TWO REPRESENTATIONS. The writers' source of truth is one absl::btree_map per space, keyed
// by range base, changed in place under the writer mutex: O(log n) per insertion, removal
// or move, with the overlap check against the two neighbours. What readers see is its
// projection, built at publication: per space, the sorted bases in one array and beside it
// each range's last address with a small "hot" copy of its value (HotOf), an optional tag
// (TagOf, in an array of its own) and its entry. Entries are allocated once when inserted and never
// change, so consecutive snapshots share them; a removed entry is retired with the snapshot
// that last named it. This keeps publication at O(k log n + n) memory copies (about 10 µs
// for 4096 ranges) instead of copying and later freeing a whole btree per generation (about
// 150 µs measured here), and gives readers a layout built for searching.
//
// READ COST. A lookup first tries the range the same thread last found for a nearby address
// (a 16-entry thread-local cache of indexes, validated against the snapshot, so never
// wrong), which makes a register polled in a loop, like a UART's line status, or a driver
// alternating between a few devices, cost a few compares. Otherwise it runs a branch-free
// binary search over the bases (conditional moves, a fixed number of steps: no
// mispredictions on random addresses), then one comparison for the range's end.
// The read section around it stores only to the thread's own cache line, and a missed hint
// only to the thread's own storage. benchmarks/bus_bench measures it against an unprotected
// btree, reader-writer locks, atomic<shared_ptr> and liburcu; figures are in README.md.
//
// WRITE COST. One batch (any number of inserts, removals and moves) costs its O(log n)
// operations plus one O(n) projection and one publication: use a Batch for more than one
// change. A batch is validated as a whole and published as one generation, or undone.
// LIMITATION: every publication writes a new index (about 100 KB for 4096 ranges), which
// readers then fetch from the writer's cache; with thousands of ranges and a publication
// every 100 µs, random lookups cost about 1.5x what they cost with no writer (still half an
// unprotected btree). An index split into chunks shared between generations would remove
// this; a VMM's device set is far smaller and hotplug far rarer.
//
// WHEN OLD SNAPSHOTS ARE FREED. A replaced snapshot, and the entries it alone named, are
// retired to the RcuDomain and freed (with their values) once no read section that could
// have loaded them is in progress: at the next poll of the domain (every
// RcuDomain::kRetireBatch retirements) or the next Synchronize(). A value stored in the bus
// therefore outlives every lookup that returned it. NEVER BLOCK INSIDE A READ SECTION.
//
// CONTRACT. Ranges are validated when inserted: size 0, or a range that runs past the end of
// its space (2^64 for MMIO, 0x10000 for PIO) is kInvalidArgument; a range overlapping a
// registered one in any way (partly, containing, contained, same base) is kAlreadyExists;
// removing or moving a range that is not registered exactly is kNotFound. Lookup: no range
// at the address is kNotFound, an access that starts inside a range and runs past its end is
// kOutOfRange, length 0 is kInvalidArgument. On every error nothing changes. Messages name
// the addresses in hex.
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
#include <string>
#include <utility>
#include <type_traits>
#include <variant>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "bus/rcu.h"
#include "resources/internal/mutex.h"

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
absl::Status ValidateBusRange(const BusRange& range);

enum class LookupOutcome : uint8_t {
  kHit,         // the access lies inside `entry`'s range
  kNoRange,     // no range contains the address: kNotFound
  kPastEnd,     // it starts inside `entry`'s range and runs past its end: kOutOfRange
  kZeroLength,  // kInvalidArgument
};

// The status for a failed lookup, naming the addresses.
absl::Status LookupError(LookupOutcome outcome, AddressSpace space, uint64_t address,
                         uint64_t length, const BusRange* range);

// A registered range and its value. Allocated once when inserted, never changed, and
// retired to the RCU domain when removed, so every snapshot naming it can point at it.
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
// device pointer): the value, copied into the read index.
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

template <typename V, typename HotOf = PointerToValue<V>, typename TagOf = NoTag<V>>
class IoBus;

namespace io_bus_internal {
// Per thread and address space, a small direct-mapped cache of the ranges recent lookups
// found (indexes into the snapshot), selected by address bits 2-5, so that a driver
// alternating between a few registers (a UART's data and status, a timer, a PCI config
// pair) finds each without a search. Written only when a lookup misses, and only to this
// thread's own storage.
inline constexpr size_t kHintSlots = 16;
inline constinit thread_local uint32_t tls_hint[kAddressSpaces][kHintSlots]
    ABSL_ATTRIBUTE_INITIAL_EXEC = {};
}  // namespace io_bus_internal

// What Find returns: the entry, its hot projection (in the snapshot's read index, valid
// as long as the snapshot), and the offset of the address inside its range.
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

// HotOf maps a value to a small, trivially copyable "hot" projection stored in the read
// index beside each range (for IoManager: the raw device pointer), so a dispatch reads the
// index and never the entry itself. By default, a pointer to the value. TagOf maps it to a
// second projection kept in an array of its own (for IoManager: the device's statistics
// slot), for what only some lookups read, so the records every lookup touches stay small.
// By default there is none.
template <typename V, typename HotOf, typename TagOf>
class IoBus {
 public:
  using LookupResult = BusLookup<V, HotOf, TagOf>;
  using Hot = typename LookupResult::Hot;
  using Tag = typename LookupResult::Tag;
  static_assert(std::is_trivially_copyable_v<Hot>, "the hot projection is copied into the index");
  static_assert(std::is_trivially_copyable_v<Tag>, "the tag is copied into the index");
  static constexpr bool kHasTag = !std::is_empty_v<Tag>;

  using Entry = BusEntry<V>;

  // One immutable generation of the map, as readers see it.
  class Snapshot {
   public:
    // Finds the range holding [address, address + length). Wait-free, no allocation.
    ABSL_ATTRIBUTE_ALWAYS_INLINE LookupResult Find(AddressSpace space, uint64_t address,
                                                   uint64_t length) const {
      LookupResult out;
      if (ABSL_PREDICT_FALSE(length == 0)) {
        out.outcome = LookupOutcome::kZeroLength;
        return out;
      }
      const Index& index = index_[static_cast<size_t>(space)];
      const size_t n = index.bases.size();
      if (ABSL_PREDICT_FALSE(n == 0)) return out;
      const uint64_t* bases = index.bases.data();
      // The range this thread found last time in this space, if it still holds the address.
      // The hint is only an index, checked against this snapshot before use: a stale one
      // (another snapshot, another bus) costs a search, never a wrong answer.
      uint32_t& hint = io_bus_internal::tls_hint[static_cast<size_t>(space)]
                                                 [(address >> 2) % io_bus_internal::kHintSlots];
      size_t lo = hint < n ? hint : 0;
      // base <= address <= last as one unsigned comparison (one predictable branch).
      if (address - bases[lo] > index.records[lo].last - bases[lo]) {
        // Branch-free: the position of the last base <= address (or 0).
        lo = 0;
        size_t len = n;
        while (len > 1) {
          const size_t half = len / 2;
          lo = bases[lo + half] <= address ? lo + half : lo;
          len -= half;
        }
        hint = static_cast<uint32_t>(lo);
        if (ABSL_PREDICT_FALSE(bases[lo] > address)) return out;
        if (ABSL_PREDICT_FALSE(address > index.records[lo].last)) return out;
      }
      const Record& record = index.records[lo];
      out.entry = index.entries[lo];  // a separate array: dispatch that needs only `hot`
      out.hot = &record.hot;          // never loads it
      if constexpr (kHasTag) out.tag = &index.tags[lo];

      out.offset = address - bases[lo];
      // Inside [address, record.last]: the access fits iff length - 1 <= last - address.
      out.outcome = length - 1 <= record.last - address ? LookupOutcome::kHit
                                                         : LookupOutcome::kPastEnd;
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
      const Index& index = index_[static_cast<size_t>(range.space)];
      auto it = std::lower_bound(index.bases.begin(), index.bases.end(), range.base);
      if (it == index.bases.end() || *it != range.base) return nullptr;
      const Entry* entry = index.entries[it - index.bases.begin()];
      return entry->range.size == range.size ? entry : nullptr;
    }

    // Calls `f(const Entry&)` for every range of `space` in ascending order.
    template <typename F>
    void ForEach(AddressSpace space, F&& f) const {
      for (const Entry* entry : index_[static_cast<size_t>(space)].entries) f(*entry);
    }

    size_t size(AddressSpace space) const { return index_[static_cast<size_t>(space)].bases.size(); }
    size_t size() const { return size(AddressSpace::kPio) + size(AddressSpace::kMmio); }
    // 0 for the empty map a bus starts with, then +1 per publication.
    uint64_t generation() const { return generation_; }

   private:
    friend class IoBus;
    // What a lookup reads after the search: the range's last address and the hot value.
    struct Record {
      uint64_t last;
      Hot hot;
    };
    // Parallel arrays: the sorted bases (what the search touches), the records, the tags
    // (empty without a TagOf) and the entries (for error messages and writers, off the
    // dispatch path).
    struct Index {
      std::vector<uint64_t> bases;
      std::vector<Record> records;
      std::vector<Tag> tags;
      std::vector<const Entry*> entries;
    };

    Snapshot() = default;

    std::array<Index, kAddressSpaces> index_;
    uint64_t generation_ = 0;
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
    std::vector<std::variant<InsertOp, RemoveOp, MoveOp>> ops_;
  };

  explicit IoBus(RcuDomain& domain = RcuDomain::Default())
      : domain_(domain), current_(new Snapshot()) {}

  // Retires the last snapshot and every entry (values are released after a grace period).
  // REQUIRES: no thread still uses the bus.
  ~IoBus() {
    std::vector<Entry*> entries;
    {
      internal::MutexLock lock(&mu_);
      for (auto& map : maps_) {
        for (auto& [base, entry] : map) entries.push_back(entry);
      }
    }
    RetireTogether(const_cast<Snapshot*>(current_.load(std::memory_order_relaxed)),
                   std::move(entries));
  }

  IoBus(const IoBus&) = delete;
  IoBus& operator=(const IoBus&) = delete;

  // The current generation. Valid while `section` lives.
  ABSL_ATTRIBUTE_ALWAYS_INLINE const Snapshot& snapshot(const ReadSection& section) const {
    (void)section;
    return *current_.load(std::memory_order_acquire);
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

  // Applies every operation of `batch` in order and publishes the result as one generation;
  // on the first failing operation everything is undone, nothing is published, and its
  // error is returned (prefixed with its position when the batch holds more than one).
  [[nodiscard]] absl::Status Apply(Batch batch) ABSL_LOCKS_EXCLUDED(mu_) {
    if (batch.empty()) return absl::OkStatus();
    Snapshot* old = nullptr;
    std::vector<Entry*> removed;
    {
      internal::MutexLock lock(&mu_);
      std::vector<Undo> undo;
      for (size_t i = 0; i < batch.ops_.size(); ++i) {
        absl::Status status = std::visit(
            [&](auto& op) ABSL_NO_THREAD_SAFETY_ANALYSIS { return ApplyOp(op, undo, removed); },
            batch.ops_[i]);
        if (!status.ok()) {
          Rollback(undo);
          if (batch.ops_.size() == 1) return status;
          return absl::Status(status.code(), absl::StrFormat("operation %zu of %zu: %s", i + 1,
                                                             batch.ops_.size(),
                                                             status.message()));
        }
      }
      old = const_cast<Snapshot*>(current_.load(std::memory_order_relaxed));
      current_.store(BuildSnapshot(old->generation_ + 1), std::memory_order_release);
    }
    // Outside the writer lock: reclaiming may destroy values whose destructors use the bus.
    // The removed entries are retired after the snapshot that stopped naming them was
    // published, so they outlive every reader of the older snapshots.
    RetireTogether(old, std::move(removed));
    return absl::OkStatus();
  }

  // The generation a new reader would see.
  uint64_t generation() const {
    ReadSection section;
    return snapshot(section).generation();
  }

  RcuDomain& domain() const { return domain_; }

 private:
  using Map = absl::btree_map<uint64_t, Entry*>;  // base -> owned entry

  // How to take back one applied operation of a failing batch.
  struct Undo {
    AddressSpace space;
    uint64_t erase_base;  // the base this operation inserted (or kNone)
    Entry* inserted;      // owned; deleted on undo
    Entry* restore;       // an entry this operation erased; put back on undo
  };
  static constexpr uint64_t kNone = ~uint64_t{0};

  Map& map(AddressSpace space) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return maps_[static_cast<size_t>(space)];
  }

  absl::Status ApplyOp(typename Batch::InsertOp& op, std::vector<Undo>& undo,
                       std::vector<Entry*>&) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (absl::Status valid = ValidateBusRange(op.range); !valid.ok()) return valid;
    Map& m = map(op.range.space);
    if (absl::Status free = CheckNoOverlap(m, op.range); !free.ok()) return free;
    auto* entry = new Entry{op.range, std::move(op.value)};
    m.emplace(op.range.base, entry);
    undo.push_back(Undo{op.range.space, op.range.base, entry, nullptr});
    return absl::OkStatus();
  }

  absl::Status ApplyOp(typename Batch::RemoveOp& op, std::vector<Undo>& undo,
                       std::vector<Entry*>& removed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Map& m = map(op.range.space);
    auto it = m.find(op.range.base);
    if (it == m.end() || it->second->range.size != op.range.size) return NotRegistered(op.range);
    Entry* entry = it->second;
    m.erase(it);
    removed.push_back(entry);
    undo.push_back(Undo{op.range.space, kNone, nullptr, entry});
    return absl::OkStatus();
  }

  absl::Status ApplyOp(typename Batch::MoveOp& op, std::vector<Undo>& undo,
                       std::vector<Entry*>& removed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Map& m = map(op.from.space);
    auto it = m.find(op.from.base);
    if (it == m.end() || it->second->range.size != op.from.size) return NotRegistered(op.from);
    const BusRange to{op.from.space, op.new_base, op.from.size};
    if (absl::Status valid = ValidateBusRange(to); !valid.ok()) return valid;
    Entry* from = it->second;
    m.erase(it);
    if (absl::Status free = CheckNoOverlap(m, to); !free.ok()) {
      m.emplace(from->range.base, from);
      return free;
    }
    // Readers of older snapshots still use `from`: the moved range gets a new entry holding
    // a copy of the value.
    auto* entry = new Entry{to, from->value};
    m.emplace(to.base, entry);
    removed.push_back(from);
    undo.push_back(Undo{to.space, to.base, entry, from});
    return absl::OkStatus();
  }

  void Rollback(std::vector<Undo>& undo) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
      Map& m = map(it->space);
      if (it->erase_base != kNone) m.erase(it->erase_base);
      delete it->inserted;
      if (it->restore != nullptr) m.emplace(it->restore->range.base, it->restore);
    }
  }

  // One retirement for a snapshot and the entries it alone named.
  void RetireTogether(Snapshot* snapshot, std::vector<Entry*> entries) {
    if (entries.empty()) {
      domain_.Retire(snapshot);
      return;
    }
    domain_.Call([snapshot, entries = std::move(entries)]() {
      delete snapshot;
      for (Entry* entry : entries) delete entry;
    });
  }

  // The flat read index of the current maps. O(n).
  Snapshot* BuildSnapshot(uint64_t generation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto* snapshot = new Snapshot();
    snapshot->generation_ = generation;
    for (size_t s = 0; s < kAddressSpaces; ++s) {
      typename Snapshot::Index& index = snapshot->index_[s];
      index.bases.reserve(maps_[s].size());
      index.records.reserve(maps_[s].size());
      if constexpr (kHasTag) index.tags.reserve(maps_[s].size());
      index.entries.reserve(maps_[s].size());
      for (const auto& [base, entry] : maps_[s]) {
        index.bases.push_back(base);
        index.records.push_back(
            typename Snapshot::Record{entry->range.last(), HotOf()(entry->value)});
        if constexpr (kHasTag) index.tags.push_back(TagOf()(entry->value));
        index.entries.push_back(entry);
      }
    }
    return snapshot;
  }

  // kAlreadyExists if `range` shares an address with a registered range. O(log n).
  static absl::Status CheckNoOverlap(const Map& m, const BusRange& range) {
    auto next = m.lower_bound(range.base);
    if (next != m.end() && next->first <= range.last()) return Overlap(range, next->second->range);
    if (next != m.begin()) {
      const BusRange& before = std::prev(next)->second->range;
      if (before.last() >= range.base) return Overlap(range, before);
    }
    return absl::OkStatus();
  }

  static absl::Status Overlap(const BusRange& range, const BusRange& registered) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "%s overlaps the registered %s", ToString(range), ToString(registered)));
  }

  static absl::Status NotRegistered(const BusRange& range) {
    return absl::NotFoundError(
        absl::StrFormat("%s is not registered exactly", ToString(range)));
  }

  RcuDomain& domain_;
  internal::Mutex mu_;  // serialises writers
  // The writers' source of truth, one ordered map per space, changed in place.
  std::array<Map, kAddressSpaces> maps_ ABSL_GUARDED_BY(mu_);
  std::atomic<const Snapshot*> current_;
};

}  // namespace dbs

#endif  // DBS_DEVICE_BUS_IO_BUS_H_
