// bus/io_bus.h — a map from address ranges to values, read without locks.
//
// IoBus<V> maps non-overlapping ranges of two address spaces (x86 port I/O, 16-bit, and
// MMIO, 64-bit) to values of type V (IoManager stores device pointers). Each generation of
// the map is an immutable Snapshot published through an atomic pointer; readers find a range
// inside an RCU read section (bus/rcu.h) and writers copy, change, validate and publish a
// new generation, retiring the old one to the RCU domain.
//
//   dbs::ReadSection section;
//   const auto& snapshot = bus.snapshot(section);
//   dbs::BusLookup<V> hit = snapshot.Find(dbs::AddressSpace::kPio, 0x3fd, 1);
//   if (hit.ok()) use(hit.entry->value, hit.offset);
//
// READ COST. A Snapshot holds an absl::btree_map per space (the writers' source of truth)
// and, built at publish time, a read-optimised index: the sorted range bases in one array,
// searched by a branch-free binary search (conditional moves, a fixed number of steps), and
// beside it each range's last address and entry. A lookup is that search, one comparison
// for the range's end, and the loads of the entry: cheaper than a btree walk, and the read
// section around it stores only to the thread's own cache line. Figures from
// benchmarks/bus_bench are in README.md and in the header of bus/rcu.h.
//
// WRITE COST. Every change copies the current snapshot (O(n), about 50 µs for 4096 ranges),
// validates the change in O(log n) per operation, rebuilds the index (O(n)) and publishes.
// A Batch applies any number of inserts, removals and moves to one copy and publishes them
// as one generation, or nothing if any operation fails: use it for more than one change.
//
// WHEN OLD SNAPSHOTS ARE FREED. A replaced snapshot is retired to the RcuDomain and freed
// (with the values it holds) once no read section that could have loaded it is in
// progress: at the next poll of the domain (every RcuDomain::kRetireBatch retirements) or
// the next Synchronize(). A value stored in the bus therefore outlives every lookup that
// returned it. NEVER BLOCK INSIDE A READ SECTION.
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

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
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

template <typename V>
class IoBus;

// What Find returns: the entry and the offset of the address inside its range.
template <typename V>
struct BusLookup {
  const typename IoBus<V>::Entry* entry = nullptr;
  uint64_t offset = 0;
  LookupOutcome outcome = LookupOutcome::kNoRange;

  bool ok() const { return outcome == LookupOutcome::kHit; }
};

template <typename V>
class IoBus {
 public:
  // A registered range and its value.
  struct Entry {
    BusRange range;
    V value;
  };

  // One immutable generation of the map.
  class Snapshot {
   public:
    // Finds the range holding [address, address + length). Wait-free, no allocation.
    ABSL_ATTRIBUTE_ALWAYS_INLINE BusLookup<V> Find(AddressSpace space, uint64_t address,
                                                   uint64_t length) const {
      BusLookup<V> out;
      if (ABSL_PREDICT_FALSE(length == 0)) {
        out.outcome = LookupOutcome::kZeroLength;
        return out;
      }
      const Index& index = index_[static_cast<size_t>(space)];
      size_t n = index.bases.size();
      if (ABSL_PREDICT_FALSE(n == 0)) return out;
      const uint64_t* bases = index.bases.data();
      // Branch-free: the position of the last base <= address (or 0).
      size_t lo = 0;
      while (n > 1) {
        const size_t half = n / 2;
        lo = bases[lo + half] <= address ? lo + half : lo;
        n -= half;
      }
      if (ABSL_PREDICT_FALSE(bases[lo] > address)) return out;
      const Record& record = index.records[lo];
      if (ABSL_PREDICT_FALSE(address > record.last)) return out;
      out.entry = record.entry;
      out.offset = address - bases[lo];
      // Inside [address, record.last]: the access fits iff length - 1 <= last - address.
      out.outcome = length - 1 <= record.last - address ? LookupOutcome::kHit
                                                         : LookupOutcome::kPastEnd;
      return out;
    }

    // Find, as a status: kNotFound, kOutOfRange or kInvalidArgument on failure.
    absl::StatusOr<BusLookup<V>> Lookup(AddressSpace space, uint64_t address,
                                        uint64_t length) const {
      BusLookup<V> hit = Find(space, address, length);
      if (hit.ok()) return hit;
      return LookupError(hit.outcome, space, address, length,
                         hit.entry != nullptr ? &hit.entry->range : nullptr);
    }

    // The entry registered exactly at `range`, or null.
    const Entry* FindExact(const BusRange& range) const {
      const auto& map = maps_[static_cast<size_t>(range.space)];
      auto it = map.find(range.base);
      if (it == map.end() || it->second.range.size != range.size) return nullptr;
      return &it->second;
    }

    // The ranges of one space, ordered by base.
    const absl::btree_map<uint64_t, Entry>& entries(AddressSpace space) const {
      return maps_[static_cast<size_t>(space)];
    }
    size_t size() const { return maps_[0].size() + maps_[1].size(); }
    // 0 for the empty map a bus starts with, then +1 per publication.
    uint64_t generation() const { return generation_; }

   private:
    friend class IoBus;
    struct Record {
      uint64_t last;
      const Entry* entry;
    };
    struct Index {
      std::vector<uint64_t> bases;
      std::vector<Record> records;
    };

    Snapshot() = default;
    Snapshot(const Snapshot& other) : maps_(other.maps_), generation_(other.generation_) {}

    // Rebuilds the read index from the maps. Entries do not move afterwards: the snapshot
    // is immutable once published.
    void BuildIndex() {
      for (size_t s = 0; s < kAddressSpaces; ++s) {
        Index& index = index_[s];
        index.bases.clear();
        index.records.clear();
        index.bases.reserve(maps_[s].size());
        index.records.reserve(maps_[s].size());
        for (const auto& [base, entry] : maps_[s]) {
          index.bases.push_back(base);
          index.records.push_back(Record{entry.range.last(), &entry});
        }
      }
    }

    std::array<absl::btree_map<uint64_t, Entry>, kAddressSpaces> maps_;
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
    void Clear() { ops_.clear(); }

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

  // Retires the last snapshot (its values are released after a grace period).
  // REQUIRES: no thread still uses the bus.
  ~IoBus() { domain_.Retire(current_.load(std::memory_order_relaxed)); }

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

  // Applies every operation of `batch` in order to a copy of the current map and publishes
  // it as one generation; on the first failing operation nothing is published and its error
  // is returned (prefixed with its position when the batch holds more than one).
  [[nodiscard]] absl::Status Apply(Batch batch) ABSL_LOCKS_EXCLUDED(mu_) {
    if (batch.empty()) return absl::OkStatus();
    Snapshot* old = nullptr;
    {
      internal::MutexLock lock(&mu_);
      const Snapshot* current = current_.load(std::memory_order_relaxed);
      auto next = std::unique_ptr<Snapshot>(new Snapshot(*current));
      for (size_t i = 0; i < batch.ops_.size(); ++i) {
        absl::Status status = std::visit([&](auto& op) { return ApplyOp(*next, op); },
                                         batch.ops_[i]);
        if (!status.ok()) {
          if (batch.ops_.size() == 1) return status;
          return absl::Status(status.code(), absl::StrFormat("operation %zu of %zu: %s", i + 1,
                                                             batch.ops_.size(),
                                                             status.message()));
        }
      }
      next->generation_ = current->generation_ + 1;
      next->BuildIndex();
      old = const_cast<Snapshot*>(current);
      current_.store(next.release(), std::memory_order_release);
    }
    // Outside the writer lock: reclaiming may destroy values whose destructors use the bus.
    domain_.Retire(old);
    return absl::OkStatus();
  }

  // The generation a new reader would see.
  uint64_t generation() const {
    ReadSection section;
    return snapshot(section).generation();
  }

  RcuDomain& domain() const { return domain_; }

 private:
  static absl::Status ApplyOp(Snapshot& s, typename Batch::InsertOp& op) {
    if (absl::Status valid = ValidateBusRange(op.range); !valid.ok()) return valid;
    auto& map = s.maps_[static_cast<size_t>(op.range.space)];
    if (absl::Status free = CheckNoOverlap(map, op.range); !free.ok()) return free;
    map.emplace(op.range.base, Entry{op.range, std::move(op.value)});
    return absl::OkStatus();
  }

  static absl::Status ApplyOp(Snapshot& s, typename Batch::RemoveOp& op) {
    auto& map = s.maps_[static_cast<size_t>(op.range.space)];
    auto it = map.find(op.range.base);
    if (it == map.end() || it->second.range.size != op.range.size) {
      return NotRegistered(op.range);
    }
    map.erase(it);
    return absl::OkStatus();
  }

  static absl::Status ApplyOp(Snapshot& s, typename Batch::MoveOp& op) {
    auto& map = s.maps_[static_cast<size_t>(op.from.space)];
    auto it = map.find(op.from.base);
    if (it == map.end() || it->second.range.size != op.from.size) return NotRegistered(op.from);
    const BusRange to{op.from.space, op.new_base, op.from.size};
    if (absl::Status valid = ValidateBusRange(to); !valid.ok()) return valid;
    Entry moved{to, std::move(it->second.value)};
    map.erase(it);
    // On error the copy is discarded whole, so the erase needs no undo.
    if (absl::Status free = CheckNoOverlap(map, to); !free.ok()) return free;
    map.emplace(to.base, std::move(moved));
    return absl::OkStatus();
  }

  // kAlreadyExists if `range` shares an address with a registered range. O(log n).
  static absl::Status CheckNoOverlap(const absl::btree_map<uint64_t, Entry>& map,
                                     const BusRange& range) {
    auto next = map.lower_bound(range.base);
    if (next != map.end() && next->first <= range.last()) {
      return Overlap(range, next->second.range);
    }
    if (next != map.begin()) {
      const BusRange& before = std::prev(next)->second.range;
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
  std::atomic<const Snapshot*> current_;
};

}  // namespace dbs

#endif  // DBS_DEVICE_BUS_IO_BUS_H_
