// bus/internal/io_bus_impl.h — how IoBus (bus/io_bus.h) is built: the lookup, the
// transaction's recorded changes, the writer that applies them to working copies of the
// trees, and the ledger a Publication keeps until it is finished. Included by io_bus.h
// only; nothing here is part of the public interface.

#ifndef DBS_DEVICE_BUS_INTERNAL_IO_BUS_IMPL_H_
#define DBS_DEVICE_BUS_INTERNAL_IO_BUS_IMPL_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "dbs_device/bus/bus_entry.h"
#include "dbs_device/bus/bus_range.h"
#include "dbs_device/bus/internal/block_pool.h"
#include "dbs_device/bus/internal/hint_cache.h"
#include "dbs_device/bus/internal/persistent_btree.h"
#include "dbs_device/bus/io_bus.h"
#include "dbs_device/bus/rcu.h"

namespace dbs::bus_internal {

template <typename V, typename HotOf, typename TagOf>
struct BusImpl {
  using Bus = IoBus<V, HotOf, TagOf>;
  using Entry = BusEntry<V>;
  using Hot = typename Bus::Hot;
  using Tag = typename Bus::Tag;
  static constexpr bool kHasTag = !std::is_empty_v<Tag>;
  using Leaf = LeafNode<Entry, Hot, Tag>;
  using Editor = TreeEditor<Leaf>;
  using Generation = typename Bus::Generation;

  // Only IoBus makes generations.
  struct Key {
    explicit Key() = default;
  };

  // A transaction's changes, as recorded.
  struct RegisterOp {
    BusRange range;
    V value;
    int32_t priority;
  };
  struct UnregisterOp {
    BusRange range;
  };
  struct MoveOp {
    BusRange from;
    uint64_t new_base;
  };
  using Op = std::variant<RegisterOp, UnregisterOp, MoveOp>;
  using OpList = absl::InlinedVector<Op, 1>;

  // An entry with what reclamation needs to know of it.
  struct StoredEntry final : Entry {
    StoredEntry(const BusRange& range, V value, int32_t priority, uint64_t birth)
        : Entry{range, std::move(value), priority}, birth(birth) {}
    uint64_t birth;  // the epoch read before the change that registered it
  };
  using EntryList = absl::InlinedVector<StoredEntry*, 2>;
  using EntryView = absl::InlinedVector<const Entry*, 2>;

  // What a Publication holds until it is finished. Moving it leaves the source finished.
  struct PublicationState {
    PublicationState() = default;
    PublicationState(RcuDomain* domain, OpList&& ops) : domain(domain), ops(std::move(ops)) {}
    PublicationState(PublicationState&& other) noexcept
        : domain(std::exchange(other.domain, nullptr)),
          result(std::move(other.result)),
          published(std::exchange(other.published, false)),
          ops(std::move(other.ops)),
          nodes(std::move(other.nodes)),
          fresh_entries(std::move(other.fresh_entries)),
          inserted_entries(std::move(other.inserted_entries)),
          removed_entries(std::move(other.removed_entries)) {}

    RcuDomain* domain = nullptr;  // null once finished
    absl::Status result;
    bool published = false;
    OpList ops;               // what the transaction's values left behind
    NodeLedger nodes;         // `replaced` also holds unregistered entries
    EntryList fresh_entries;  // created by the change
    EntryView inserted_entries;
    EntryView removed_entries;
  };

  static void Finish(PublicationState& state) {
    if (state.domain == nullptr) return;
    RcuDomain* domain = std::exchange(state.domain, nullptr);
    // Moved out first: a deleter may run code that publishes again.
    NodeLedger nodes = std::move(state.nodes);
    EntryList discard;
    if (!state.published) discard = std::move(state.fresh_entries);
    OpList ops = std::move(state.ops);
    if (state.published) {
      for (const RcuDomain::Retiree& node : nodes.dropped) node.deleter(node.object);
      domain->RetireAll(nodes.replaced);
    } else {
      for (const RcuDomain::Retiree& node : nodes.fresh) node.deleter(node.object);
    }
    for (StoredEntry* entry : discard) delete entry;
    ops.clear();
  }

  static RcuDomain::Retiree RetireeOf(const Entry* entry) {
    const auto* stored = static_cast<const StoredEntry*>(entry);
    return RcuDomain::Retiree{const_cast<StoredEntry*>(stored),
                              [](void* p) { delete static_cast<StoredEntry*>(p); },
                              sizeof(StoredEntry), stored->birth};
  }
  static RcuDomain::Retiree RetireeOf(const Generation* generation) {
    return RcuDomain::Retiree{const_cast<Generation*>(generation), &DeleteNode<Generation>,
                              sizeof(Generation), generation->birth_};
  }

  // Applies one transaction's changes to working copies of the current trees, checked on
  // the map they produce. First the changes are followed in order on a ledger (which
  // registered ranges leave, which new ones arrive and from which change), so a range may
  // pass through addresses that another one still holds; then the ranges that leave are
  // erased and the ones that arrive are inserted in the order of their changes, each
  // checked against the final map. O(k log n) for k changes.
  class Writer {
   public:
    Writer(PublicationState& state, const Generation* old, uint64_t serial)
        : state_(state),
          old_(*old),
          serial_(serial),
          birth_(RcuDomain::CurrentEpoch()),
          editors_{Editor(old->roots_[0], serial, birth_, state.nodes),
                   Editor(old->roots_[1], serial, birth_, state.nodes)} {}

    std::array<Root, kAddressSpaces> roots() const {
      return {editors_[0].root(), editors_[1].root()};
    }
    uint64_t birth() const { return birth_; }

    // The overlay levels of the new generation: the old ones, with the edited ones
    // replaced, the emptied ones dropped; null when none is left.
    std::unique_ptr<const Overlays> overlays() const {
      auto next = std::make_unique<Overlays>();
      bool any = false;
      for (size_t space = 0; space < kAddressSpaces; ++space) {
        std::vector<OverlayLevel>& levels = next->levels[space];
        if (old_.overlays_ != nullptr) levels = old_.overlays_->levels[space];
        for (const auto& edited : overlay_editors_) {
          const int32_t priority = edited.first.second;
          if (edited.first.first != space) continue;
          auto it = std::find_if(levels.begin(), levels.end(),
                                 [&](const OverlayLevel& l) { return l.priority == priority; });
          if (it == levels.end()) it = levels.insert(levels.end(), {priority, Root{}});
          it->root = edited.second.root();
        }
        std::erase_if(levels, [](const OverlayLevel& l) { return l.root.node == nullptr; });
        std::sort(levels.begin(), levels.end(), [](const OverlayLevel& a, const OverlayLevel& b) {
          return a.priority > b.priority;
        });
        any = any || !levels.empty();
      }
      return any ? std::unique_ptr<const Overlays>(std::move(next)) : nullptr;
    }

    // Follows change `index` on the ledger; its error names no position.
    absl::Status Follow(size_t index, RegisterOp& op) {
      if (absl::Status valid = ValidateBusRange(op.range); !valid.ok()) return valid;
      Arrive(op.range, Arrival{op.range, &op.value, nullptr, index, op.priority});
      return absl::OkStatus();
    }

    absl::Status Follow(size_t, UnregisterOp& op) {
      Arrival source;
      return Leave(op.range, source);
    }

    absl::Status Follow(size_t index, MoveOp& op) {
      const BusRange to{op.from.space, op.new_base, op.from.size};
      Arrival moved;
      if (absl::Status left = Leave(op.from, moved); !left.ok()) return left;
      if (absl::Status valid = ValidateBusRange(to); !valid.ok()) return valid;
      // Readers of older generations still use a registered entry: the moved range gets a
      // new entry, holding a copy of its value.
      moved.range = to;
      moved.change = index;
      Arrive(to, moved);
      return absl::OkStatus();
    }

    // Erases what leaves, then inserts what arrives. On an overlap, `failed_change` is the
    // change whose range overlaps.
    absl::Status Apply(size_t& failed_change) {
      for (const Entry* entry : departures_) {
        editor_for(entry->range.space, entry->priority)
            .EraseExact(entry->range.base, entry->range.last());
        state_.removed_entries.push_back(entry);
        state_.nodes.replaced.push_back(RetireeOf(entry));
      }
      for (Arrival& arrival : arrivals_) {
        if (arrival.change == kGone) continue;
        if (absl::Status status = Insert(arrival); !status.ok()) {
          failed_change = arrival.change;
          return status;
        }
      }
      return absl::OkStatus();
    }

   private:
    static constexpr size_t kGone = ~size_t{0};
    // Up to this many arrivals or departures are searched in place; beyond, through hash
    // indexes, so that a large transaction stays O(k log n).
    static constexpr size_t kIndexFrom = 16;

    // A range the transaction registers, and where its value comes from: moved out of a
    // Register change, or copied from a registered entry that moves.
    struct Arrival {
      BusRange range;
      V* movable = nullptr;
      const V* copy_of = nullptr;
      size_t change = kGone;  // kGone once a later change took it away
      int32_t priority = 0;
    };
    using RangeKey = std::tuple<AddressSpace, uint64_t, uint64_t>;
    static RangeKey KeyOf(const BusRange& r) { return {r.space, r.base, r.size}; }

    void Arrive(const BusRange& range, Arrival arrival) {
      if (arrivals_.size() == kIndexFrom) {
        for (size_t i = 0; i < arrivals_.size(); ++i) {
          if (arrivals_[i].change != kGone) arrived_at_[KeyOf(arrivals_[i].range)].push_back(i);
        }
      }
      if (arrivals_.size() >= kIndexFrom) arrived_at_[KeyOf(range)].push_back(arrivals_.size());
      arrivals_.push_back(arrival);
    }

    // The earliest arrival exactly at `range` that no later change took away, or null;
    // taken away.
    Arrival* TakeArrival(const BusRange& range) {
      if (arrivals_.size() <= kIndexFrom) {
        for (Arrival& arrival : arrivals_) {
          if (arrival.change != kGone && arrival.range == range) return &arrival;
        }
        return nullptr;
      }
      auto it = arrived_at_.find(KeyOf(range));
      if (it == arrived_at_.end()) return nullptr;
      Arrival* arrival = &arrivals_[it->second.front()];
      it->second.erase(it->second.begin());
      if (it->second.empty()) arrived_at_.erase(it);
      return arrival;
    }

    // Records that registered `entry` leaves; false if an earlier change took it away.
    bool Depart(const Entry* entry) {
      if (departures_.size() < kIndexFrom) {
        if (std::find(departures_.begin(), departures_.end(), entry) != departures_.end()) {
          return false;
        }
      } else {
        if (departures_.size() == kIndexFrom)
          departed_.insert(departures_.begin(), departures_.end());
        if (!departed_.insert(entry).second) return false;
      }
      departures_.push_back(entry);
      return true;
    }

    // `range` leaves the draft. When several ranges of the draft are exactly there (a range
    // moved onto one that moves away later, as in a swap), the change names the one that
    // was there first: the registered entry if it has not left, else the earliest arrival.
    // `source` says where its value comes from.
    absl::Status Leave(const BusRange& range, Arrival& source) {
      if (const Entry* entry = old_.FindExact(range); entry != nullptr && Depart(entry)) {
        source = Arrival{range, nullptr, &entry->value, kGone, entry->priority};
        return absl::OkStatus();
      }
      Arrival* arrival = TakeArrival(range);
      if (arrival == nullptr) return NotRegistered(range);
      source = *arrival;
      arrival->change = kGone;
      return absl::OkStatus();
    }

    // The editor of the tree of `priority` in `space`, made on first use.
    Editor& editor_for(AddressSpace space, int32_t priority) {
      const size_t s = static_cast<size_t>(space);
      if (priority == 0) return editors_[s];
      auto it = overlay_editors_.find({s, priority});
      if (it == overlay_editors_.end()) {
        Root root;
        if (old_.overlays_ != nullptr) {
          for (const OverlayLevel& level : old_.overlays_->levels[s]) {
            if (level.priority == priority) root = level.root;
          }
        }
        it = overlay_editors_
                 .emplace(std::pair{s, priority}, Editor(root, serial_, birth_, state_.nodes))
                 .first;
      }
      return it->second;
    }

    // kAlreadyExists if the arriving range shares an address with a range of its tree.
    absl::Status Insert(Arrival& arrival) {
      const BusRange& range = arrival.range;
      ReserveOneMore(state_.fresh_entries);  // so that recording it cannot throw
      ReserveOneMore(state_.inserted_entries);
      // Owned by the publication from the start: freed with it, after the bus's lock,
      // whatever happens next.
      auto* entry =
          arrival.movable != nullptr
              ? new StoredEntry(range, std::move(*arrival.movable), arrival.priority, birth_)
              : new StoredEntry(range, *arrival.copy_of, arrival.priority, birth_);
      state_.fresh_entries.push_back(entry);
      const typename Editor::Position overlap =
          editor_for(range.space, arrival.priority)
              .InsertUnlessOverlapping(typename Leaf::Slot{
                  range.base, {range.last(), HotOf()(entry->value)}, TagOf()(entry->value), entry});
      if (overlap.leaf != nullptr) {
        return absl::AlreadyExistsError(
            absl::StrFormat("%s overlaps the registered %s", ToString(range),
                            ToString(overlap.leaf->entries[overlap.slot]->range)));
      }
      state_.inserted_entries.push_back(entry);
      return absl::OkStatus();
    }

    static absl::Status NotRegistered(const BusRange& range) {
      return absl::NotFoundError(absl::StrFormat("%s is not registered exactly", ToString(range)));
    }

    PublicationState& state_;
    const Generation& old_;
    const uint64_t serial_;
    const uint64_t birth_;
    std::array<Editor, kAddressSpaces> editors_;                    // the priority-0 trees
    std::map<std::pair<size_t, int32_t>, Editor> overlay_editors_;  // (space, priority)
    absl::InlinedVector<Arrival, 2> arrivals_;                      // in the order of their changes
    absl::InlinedVector<const Entry*, 2> departures_;               // registered entries that leave
    // Past kIndexFrom: range -> the arrivals there that no later change took away, earliest
    // first; and the departures as a set.
    absl::flat_hash_map<RangeKey, absl::InlinedVector<size_t, 1>> arrived_at_;
    absl::flat_hash_set<const Entry*> departed_;
  };
};

// The test-only tree checker's way into a generation: declared here, defined in
// bus/internal/persistent_btree_check.h.
struct GenerationAccess {
  template <typename G>
  static absl::Status CheckInvariants(const G& generation);
};

}  // namespace dbs::bus_internal

namespace dbs {

// ---- IoBus ----

template <typename V, typename HotOf, typename TagOf>
IoBus<V, HotOf, TagOf>::IoBus(RcuDomain& domain)
    : domain_(domain),
      current_(bus_internal::NewAligned<Generation>(
          typename Impl::Key(), std::array<bus_internal::Root, kAddressSpaces>{}, nullptr, 0,
          RcuDomain::CurrentEpoch())) {}

template <typename V, typename HotOf, typename TagOf>
IoBus<V, HotOf, TagOf>::~IoBus() {
  const Generation* last = current_.load(std::memory_order_relaxed);
  std::vector<RcuDomain::Retiree> all;
  all.reserve(last->size() + 2);
  for (const bus_internal::Root& root : last->roots_) {
    Impl::Editor::CollectNodes(root, all);
    Impl::Editor::ForEachLeaf(root, [&all](const typename Impl::Leaf& leaf) {
      for (uint32_t i = 0; i < leaf.meta.count; ++i)
        all.push_back(Impl::RetireeOf(leaf.entries[i]));
    });
  }
  all.push_back(Impl::RetireeOf(last));
  domain_.RetireAll(all);
}

template <typename V, typename HotOf, typename TagOf>
absl::Status IoBus<V, HotOf, TagOf>::Register(const BusRange& range, V value, int32_t priority) {
  Transaction transaction;
  transaction.Register(range, std::move(value), priority);
  return Apply(std::move(transaction));
}

template <typename V, typename HotOf, typename TagOf>
absl::Status IoBus<V, HotOf, TagOf>::Unregister(const BusRange& range) {
  Transaction transaction;
  transaction.Unregister(range);
  return Apply(std::move(transaction));
}

template <typename V, typename HotOf, typename TagOf>
absl::Status IoBus<V, HotOf, TagOf>::Move(const BusRange& from, uint64_t new_base) {
  Transaction transaction;
  transaction.Move(from, new_base);
  return Apply(std::move(transaction));
}

template <typename V, typename HotOf, typename TagOf>
absl::Status IoBus<V, HotOf, TagOf>::Apply(Transaction transaction) {
  Publication publication = Publish(std::move(transaction));
  publication.Finish();
  return publication.status();
}

template <typename V, typename HotOf, typename TagOf>
auto IoBus<V, HotOf, TagOf>::Commit(Transaction transaction) -> Publication {
  return Publish(std::move(transaction));
}

template <typename V, typename HotOf, typename TagOf>
auto IoBus<V, HotOf, TagOf>::Publish(Transaction transaction) -> Publication {
  // Whatever is left of the transaction's values dies with the publication.
  Publication publication(&domain_, std::move(transaction.ops_));
  typename Impl::PublicationState& state = publication;
  if (state.ops.empty()) return publication;
  internal::MutexLock lock(&mu_);
  const Generation* old = current_.load(std::memory_order_relaxed);
  typename Impl::Writer writer(state, old, ++change_serial_);
  const size_t n = state.ops.size();
  auto fail = [&](size_t i, const absl::Status& status) {
    state.result = n == 1
                       ? status
                       : absl::Status(status.code(), absl::StrFormat("operation %zu of %zu: %s",
                                                                     i + 1, n, status.message()));
    state.inserted_entries.clear();
    state.removed_entries.clear();
    return std::move(publication);
  };
  for (size_t i = 0; i < n; ++i) {
    absl::Status status =
        std::visit([&writer, i](auto& op) { return writer.Follow(i, op); }, state.ops[i]);
    if (!status.ok()) return fail(i, status);
  }
  size_t failed_change = 0;
  if (absl::Status status = writer.Apply(failed_change); !status.ok()) {
    return fail(failed_change, status);
  }
  Impl::Editor::PadFresh(state.nodes);
  auto* next = bus_internal::NewAligned<Generation>(
      typename Impl::Key(), writer.roots(), writer.overlays(), old->number_ + 1, writer.birth());
  state.nodes.replaced.push_back(Impl::RetireeOf(old));
  current_.store(next, std::memory_order_release);
  state.published = true;
  return publication;
}

template <typename V, typename HotOf, typename TagOf>
uint64_t IoBus<V, HotOf, TagOf>::generation() const {
  ReadSection section;
  return Current(section).number();
}

// ---- Generation ----

template <typename V, typename HotOf, typename TagOf>
IoBus<V, HotOf, TagOf>::Generation::Generation(
    typename Impl::Key, const std::array<bus_internal::Root, kAddressSpaces>& roots,
    std::unique_ptr<const bus_internal::Overlays> overlays, uint64_t number, uint64_t birth)
    : birth_(birth),
      id_(bus_internal::g_next_generation_id.fetch_add(1, std::memory_order_relaxed)),
      overlays_(std::move(overlays)),
      roots_(roots),
      number_(number) {}

template <typename V, typename HotOf, typename TagOf>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline auto IoBus<V, HotOf, TagOf>::Generation::Find(
    AddressSpace space, uint64_t address, uint64_t length) const -> LookupResult {
  if (ABSL_PREDICT_FALSE(overlays_ != nullptr)) return FindOverlaid(space, address, length);
  LookupResult out;
  if (ABSL_PREDICT_FALSE(length == 0)) {
    out.outcome = LookupOutcome::kZeroLength;
    return out;
  }
  bus_internal::Hint& hint = bus_internal::HintFor(space, address);
  const Leaf* leaf;
  uint32_t i;
  uint64_t base, last;
  // The hint holds iff it is of this generation and base <= address <= last (one unsigned
  // comparison).
  if (hint.generation_id == id_ && address - hint.base <= hint.last - hint.base) {
    leaf = static_cast<const Leaf*>(hint.leaf);
    i = hint.slot;
    base = hint.base;
    last = hint.last;
  } else {
    const bus_internal::Root& root = roots_[static_cast<size_t>(space)];
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
  if constexpr (Impl::kHasTag) out.tag = &leaf->tags.values[i];
  out.offset = address - base;
  // Inside [address, last]: the access fits iff length - 1 <= last - address.
  out.outcome = length - 1 <= last - address ? LookupOutcome::kHit : LookupOutcome::kPastEnd;
  return out;
}

template <typename V, typename HotOf, typename TagOf>
auto IoBus<V, HotOf, TagOf>::Generation::FindOverlaid(AddressSpace space, uint64_t address,
                                                      uint64_t length) const -> LookupResult {
  LookupResult out;
  if (length == 0) {
    out.outcome = LookupOutcome::kZeroLength;
    return out;
  }
  const size_t s = static_cast<size_t>(space);
  // The highest priority holding the first byte takes the access.
  auto probe = [&](const bus_internal::Root& root) {
    if (root.node == nullptr) return false;
    const bus_internal::LeafSlot<Leaf> found = bus_internal::FindSlot<Leaf>(root, address);
    const uint64_t base = found.leaf->bases[found.slot];
    const uint64_t last = found.leaf->records[found.slot].last;
    if (base > address || address > last) return false;
    out.entry = found.leaf->entries[found.slot];
    out.hot = &found.leaf->records[found.slot].hot;
    if constexpr (Impl::kHasTag) out.tag = &found.leaf->tags.values[found.slot];
    out.offset = address - base;
    out.outcome = length - 1 <= last - address ? LookupOutcome::kHit : LookupOutcome::kPastEnd;
    return true;
  };
  AnyByPriority(s, probe);
  return out;
}

template <typename V, typename HotOf, typename TagOf>
template <typename F>
bool IoBus<V, HotOf, TagOf>::Generation::AnyByPriority(size_t space, F&& probe) const {
  if (overlays_ == nullptr) return probe(roots_[space]);
  const std::vector<bus_internal::OverlayLevel>& levels = overlays_->levels[space];
  auto level = levels.begin();
  for (; level != levels.end() && level->priority > 0; ++level) {
    if (probe(level->root)) return true;
  }
  if (probe(roots_[space])) return true;
  for (; level != levels.end(); ++level) {
    if (probe(level->root)) return true;
  }
  return false;
}

template <typename V, typename HotOf, typename TagOf>
template <typename F>
void IoBus<V, HotOf, TagOf>::Generation::ForEachRoot(F&& f) const {
  for (const bus_internal::Root& root : roots_) f(root);
  if (overlays_ == nullptr) return;
  for (const auto& levels : overlays_->levels) {
    for (const bus_internal::OverlayLevel& level : levels) f(level.root);
  }
}

template <typename V, typename HotOf, typename TagOf>
size_t IoBus<V, HotOf, TagOf>::Generation::size(AddressSpace space) const {
  const size_t s = static_cast<size_t>(space);
  size_t n = roots_[s].size;
  if (overlays_ != nullptr) {
    for (const bus_internal::OverlayLevel& level : overlays_->levels[s]) n += level.root.size;
  }
  return n;
}

template <typename V, typename HotOf, typename TagOf>
auto IoBus<V, HotOf, TagOf>::Generation::Lookup(AddressSpace space, uint64_t address,
                                                uint64_t length) const
    -> absl::StatusOr<LookupResult> {
  LookupResult hit = Find(space, address, length);
  if (hit.ok()) return hit;
  return LookupError(hit.outcome, space, address, length,
                     hit.entry != nullptr ? &hit.entry->range : nullptr);
}

template <typename V, typename HotOf, typename TagOf>
auto IoBus<V, HotOf, TagOf>::Generation::FindExact(const BusRange& range) const -> const Entry* {
  // Of ranges exactly there at several priorities, the highest.
  const Entry* found = nullptr;
  AnyByPriority(static_cast<size_t>(range.space), [&](const bus_internal::Root& root) {
    if (root.node == nullptr) return false;
    const auto [leaf, i] = bus_internal::FindSlot<Leaf>(root, range.base);
    if (leaf->bases[i] != range.base || leaf->entries[i]->range.size != range.size) return false;
    found = leaf->entries[i];
    return true;
  });
  return found;
}

template <typename V, typename HotOf, typename TagOf>
template <typename F>
void IoBus<V, HotOf, TagOf>::Generation::ForEach(AddressSpace space, F&& f) const {
  const size_t s = static_cast<size_t>(space);
  if (overlays_ == nullptr) {
    Impl::Editor::ForEachLeaf(roots_[s], [&f](const Leaf& leaf) {
      for (uint32_t i = 0; i < leaf.meta.count; ++i) f(*leaf.entries[i]);
    });
    return;
  }
  // Every level, merged: ascending base, the higher priority first at one base.
  std::vector<const Entry*> all;
  auto collect = [&all](const bus_internal::Root& root) {
    Impl::Editor::ForEachLeaf(root, [&all](const Leaf& leaf) {
      for (uint32_t i = 0; i < leaf.meta.count; ++i) all.push_back(leaf.entries[i]);
    });
  };
  collect(roots_[s]);
  for (const bus_internal::OverlayLevel& level : overlays_->levels[s]) collect(level.root);
  std::sort(all.begin(), all.end(), [](const Entry* a, const Entry* b) {
    return a->range.base != b->range.base ? a->range.base < b->range.base
                                          : a->priority > b->priority;
  });
  for (const Entry* entry : all) f(*entry);
}

// ---- Transaction ----

template <typename V, typename HotOf, typename TagOf>
auto IoBus<V, HotOf, TagOf>::Transaction::Register(const BusRange& range, V value, int32_t priority)
    -> Transaction& {
  ops_.push_back(typename Impl::RegisterOp{range, std::move(value), priority});
  return *this;
}

template <typename V, typename HotOf, typename TagOf>
auto IoBus<V, HotOf, TagOf>::Transaction::Unregister(const BusRange& range) -> Transaction& {
  ops_.push_back(typename Impl::UnregisterOp{range});
  return *this;
}

template <typename V, typename HotOf, typename TagOf>
auto IoBus<V, HotOf, TagOf>::Transaction::Move(const BusRange& from, uint64_t new_base)
    -> Transaction& {
  ops_.push_back(typename Impl::MoveOp{from, new_base});
  return *this;
}

template <typename V, typename HotOf, typename TagOf>
template <typename F>
void IoBus<V, HotOf, TagOf>::Transaction::ForEachValue(F&& f) {
  for (typename Impl::Op& op : ops_) {
    if (auto* registration = std::get_if<typename Impl::RegisterOp>(&op)) f(registration->value);
  }
}

// ---- Publication ----

template <typename V, typename HotOf, typename TagOf>
auto IoBus<V, HotOf, TagOf>::Publication::operator=(Publication&& other) noexcept -> Publication& {
  // By reconstruction: the transaction's values need not be assignable.
  if (this != &other) {
    this->~Publication();
    new (this) Publication(std::move(other));
  }
  return *this;
}

}  // namespace dbs

#endif  // DBS_DEVICE_BUS_INTERNAL_IO_BUS_IMPL_H_
