// bus/io_bus.h — a map from address ranges to values, read without locks and changed in
// O(log n) per change.
//
//   dbs::IoBus<Device*> bus;
//   absl::Status s = bus.Register({dbs::AddressSpace::kPio, 0x3f8, 8}, uart);
//   dbs::ReadSection section;                                   // on a reader thread
//   auto hit = bus.Current(section).Find(dbs::AddressSpace::kPio, 0x3fd, 1);
//   if (hit.ok()) use(hit.entry->value, hit.offset);
//
// IoBus<V> maps non-overlapping ranges of two address spaces (x86 port I/O and MMIO,
// bus/bus_range.h) to values of type V. Each Generation of the map is immutable and is
// published through one atomic pointer; readers find a range inside an RCU read section
// (bus/rcu.h), and writers build the next generation, publish it and retire what only the
// old one named. A generation is a persistent B+-tree per space: a change copies only the
// path from the root to what it touches and shares every other node, and a registered
// range's entry is allocated once, so generations share it too. bus/README.md tells the
// structure (the leaves' hot projections and tags, the per-thread hints, why 16-way nodes);
// benchmarks/README.md ("Lookup, and the writer side") has what it costs.
//
// READS are wait-free (a per-thread hint, else a descent of log16 n nodes). WRITES serialise
// on one mutex, never wait for readers and copy O(log n) nodes per change.
//
// WHEN VALUES DIE. What a change replaced is retired and freed once no read section can
// reach it, on whichever thread reclaims, never under a lock of this library (Publish hands
// the retirement back as a Publication). NEVER BLOCK INSIDE A READ SECTION on a lock a
// writer holds while it synchronizes.
//
// OVERLAYS. Each range has a priority (default 0); ranges of equal priority never overlap,
// and the highest priority holding an access's first byte takes it, which must lie inside
// that range. Each priority is a tree of its own, searched from the highest, without hints.
//
// CONTRACT (docs/architecture.md, "Error contract"): size 0 or past the end of the space is
// kInvalidArgument; an overlap of equal priorities in the map a change or transaction
// produces, kAlreadyExists; unregistering or moving what is not registered exactly,
// kNotFound; a lookup finding no range kNotFound, running past its range kOutOfRange,
// length 0 kInvalidArgument. On every error nothing changes; messages name addresses in hex.
//
// Thread-safety: every member is thread-safe.

#ifndef DBS_DEVICE_BUS_IO_BUS_H_
#define DBS_DEVICE_BUS_IO_BUS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dbs_device/base/mutex.h"
#include "dbs_device/bus/bus_entry.h"
#include "dbs_device/bus/bus_range.h"
#include "dbs_device/bus/internal/persistent_btree.h"
#include "dbs_device/bus/rcu.h"

namespace dbs {

namespace bus_internal {
template <typename V, typename HotOf, typename TagOf>
struct BusImpl;  // bus/internal/io_bus_impl.h
struct GenerationAccess;
}  // namespace bus_internal

// HotOf maps a value to a small, trivially copyable projection kept in the leaf beside its
// range (IoManager: the raw device pointer), so a lookup never reads the entry itself; by
// default a pointer to the value. TagOf maps it to a second projection kept in an array of
// its own, for what only some lookups read (IoManager: the device's counters); by default
// none. Both are copied into leaves, once per registration.
template <typename V, typename HotOf = PointerToValue<V>, typename TagOf = NoTag<V>>
class IoBus {
 public:
  using Entry = BusEntry<V>;
  using LookupResult = BusLookup<V, HotOf, TagOf>;
  using Hot = typename LookupResult::Hot;
  using Tag = typename LookupResult::Tag;

  class Generation;   // one immutable generation of the map, as readers see it
  class Transaction;  // changes published together as one generation, or not at all
  class Publication;  // what Publish did, and what it leaves to retire

  explicit IoBus(RcuDomain& domain = RcuDomain::Default());
  // Retires the last generation whole: its nodes, its entries and so its values.
  // REQUIRES: no thread still uses the bus.
  ~IoBus();
  IoBus(const IoBus&) = delete;
  IoBus& operator=(const IoBus&) = delete;

  // The current generation; valid while `section` lives. Wait-free.
  ABSL_ATTRIBUTE_ALWAYS_INLINE const Generation& Current(const ReadSection& section) const {
    return *section.Load(current_, [](const Generation* g) { return g->birth_; });
  }

  // Registers `value` at `range`, with `priority` (bus/bus_entry.h: ranges of equal
  // priority never overlap; a higher one overlays a lower one).
  [[nodiscard]] absl::Status Register(const BusRange& range, V value, int32_t priority = 0)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Unregisters the range registered exactly at `range`.
  [[nodiscard]] absl::Status Unregister(const BusRange& range) ABSL_LOCKS_EXCLUDED(mu_);
  // Moves the range registered exactly at `from` to `new_base`, atomically: every lookup
  // finds the value at exactly one of the two places.
  [[nodiscard]] absl::Status Move(const BusRange& from, uint64_t new_base) ABSL_LOCKS_EXCLUDED(mu_);
  // Publish, then retire what the change replaced before returning.
  [[nodiscard]] absl::Status Apply(Transaction transaction) ABSL_LOCKS_EXCLUDED(mu_);
  // Follows the changes of `transaction` in order on a draft and checks the map they
  // produce, once: ranges may overlap on the way (a swap, a shift), not at the end. Each
  // change names a range where the earlier ones left it; of several exactly there, the one
  // that was there first. Publishes the result as one generation, or nothing: the status
  // is then the first error (prefixed with the position of the change it concerns when
  // there are several). Nothing is retired or freed until the Publication is finished or
  // destroyed. O(k log n) for k changes.
  [[nodiscard]] Publication Publish(Transaction transaction) ABSL_LOCKS_EXCLUDED(mu_);

  // The number of the generation a new reader would see.
  uint64_t generation() const;
  RcuDomain& domain() const { return domain_; }

  // Older names, kept for one release (CHANGELOG.md).
  using Snapshot = Generation;
  using Batch = Transaction;
  using Change = Publication;
  const Generation& snapshot(const ReadSection& section) const { return Current(section); }
  [[nodiscard]] absl::Status Insert(const BusRange& range, V value) {
    return Register(range, std::move(value));
  }
  [[nodiscard]] absl::Status Remove(const BusRange& range) { return Unregister(range); }
  [[nodiscard]] Publication Commit(Transaction transaction);

 private:
  using Impl = bus_internal::BusImpl<V, HotOf, TagOf>;
  friend Impl;

  RcuDomain& domain_;
  internal::Mutex mu_;  // serialises writers
  uint64_t change_serial_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<const Generation*> current_;
};

template <typename V, typename HotOf, typename TagOf>
class alignas(64) IoBus<V, HotOf, TagOf>::Generation {
 public:
  // The range holding [address, address + length). Wait-free, no allocation.
  ABSL_ATTRIBUTE_ALWAYS_INLINE LookupResult Find(AddressSpace space, uint64_t address,
                                                 uint64_t length) const;
  // Find, as a status: kNotFound, kOutOfRange or kInvalidArgument on failure.
  absl::StatusOr<LookupResult> Lookup(AddressSpace space, uint64_t address, uint64_t length) const;
  // The entry registered exactly at `range`, or null. O(log n).
  const Entry* FindExact(const BusRange& range) const;
  // Calls `f(const Entry&)` for every range of `space` in ascending order.
  template <typename F>
  void ForEach(AddressSpace space, F&& f) const;

  size_t size(AddressSpace space) const;
  size_t size() const { return size(AddressSpace::kPio) + size(AddressSpace::kMmio); }
  uint64_t number() const { return number_; }      // 0 when empty, then +1 per publication
  uint64_t generation() const { return number_; }  // its older name
  // Whether any range of this generation has a priority other than 0.
  bool has_overlays() const { return overlays_ != nullptr; }
  // Levels of the priority-0 tree of `space` (0 when empty, 1 when its root is a leaf).
  uint32_t height(AddressSpace space) const { return roots_[static_cast<size_t>(space)].height; }

  // Made by IoBus only.
  Generation(typename Impl::Key, const std::array<bus_internal::Root, kAddressSpaces>& roots,
             std::unique_ptr<const bus_internal::Overlays> overlays, uint64_t number,
             uint64_t birth);

 private:
  friend class IoBus;
  friend Impl;
  friend struct bus_internal::GenerationAccess;
  using Leaf = typename Impl::Leaf;

  template <typename F>  // f(const Root&) for every tree, overlays included
  void ForEachRoot(F&& f) const;
  template <typename F>  // probe(const Root&), highest priority first, until one is true
  bool AnyByPriority(size_t space, F&& probe) const;
  // Overlaid lookups: every level, highest priority first; no hints.
  LookupResult FindOverlaid(AddressSpace space, uint64_t address, uint64_t length) const;

  // What a lookup reads first, in one cache line.
  uint64_t birth_;  // the epoch read before its change: what ReadSection::Load compares
  uint64_t id_;     // process-wide unique, for the per-thread hints
  std::unique_ptr<const bus_internal::Overlays> overlays_;  // null without overlays
  std::array<bus_internal::Root, kAddressSpaces> roots_;    // the priority-0 trees
  uint64_t number_;
};

template <typename V, typename HotOf, typename TagOf>
class IoBus<V, HotOf, TagOf>::Transaction {
 public:
  Transaction& Register(const BusRange& range, V value, int32_t priority = 0);
  Transaction& Unregister(const BusRange& range);
  // Moves the value registered exactly at `from` to `new_base` (same size).
  Transaction& Move(const BusRange& from, uint64_t new_base);
  Transaction& Insert(const BusRange& range, V value) { return Register(range, std::move(value)); }
  Transaction& Remove(const BusRange& range) { return Unregister(range); }

  // Calls `f(V&)` on the value of every Register change, in order (to finish values
  // before they are published).
  template <typename F>
  void ForEachValue(F&& f);

  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }

 private:
  friend class IoBus;
  friend Impl;
  typename Impl::OpList ops_;  // a single change allocates nothing here
};

// What Publish did, and what it leaves to free. The entries it added and removed are listed
// (net: an entry added and removed by the same transaction is in neither list) and stay
// valid until Finish. Finish, or the destructor, hands what the change unpublished to the
// RCU domain and frees what it built and never published; either may run deleters (and so
// destroy values) on the calling thread, so the caller must hold no lock a value's
// destructor might take.
template <typename V, typename HotOf, typename TagOf>
class IoBus<V, HotOf, TagOf>::Publication : private Impl::PublicationState {
 public:
  Publication() = default;
  Publication(Publication&& other) noexcept = default;
  // Finishes this publication, then takes `other`'s place.
  Publication& operator=(Publication&& other) noexcept;
  ~Publication() { Finish(); }

  bool ok() const { return this->result.ok(); }
  const absl::Status& status() const { return this->result; }
  // The entries the change added and removed; empty unless it was published.
  absl::Span<const Entry* const> inserted() const { return this->inserted_entries; }
  absl::Span<const Entry* const> removed() const { return this->removed_entries; }
  // Retires what the published change replaced and frees what it built but dropped; or,
  // for a change that was not published, frees everything it built. Idempotent.
  void Finish() { Impl::Finish(*this); }

 private:
  friend class IoBus;
  friend Impl;
  Publication(RcuDomain* domain, typename Impl::OpList&& ops)
      : Impl::PublicationState(domain, std::move(ops)) {}
};

}  // namespace dbs

#include "dbs_device/bus/internal/io_bus_impl.h"  // IWYU pragma: export

#endif  // DBS_DEVICE_BUS_IO_BUS_H_
