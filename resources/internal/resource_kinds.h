// resources/internal/resource_kinds.h — each kind of Resource, described once.
//
// ResourceKind<K> says, for kind K:
//   kName        its name in messages
//   kField       its field number in a snapshot's Resource message (a oneof)
//   Wire()       how it is written in that field: a message by its schema (base/schema.h),
//                one unsigned value (ScalarWire), or bytes (BytesWire)
//   Held(r)      the pool it is taken from and the ids it holds there, nullopt for a kind
//                held by no pool (a MAC address); kInvalidArgument, naming it, when it is
//                empty or runs past the end of its space
//   Exact(r, shared)  the constraint that asks for exactly it again, or nullopt
//   ToString(r)  its text form
// and the ResourceManager (pools), the snapshot format (manager/snapshot.cc), Validate,
// ExactConstraints and ToString are written over these descriptions. Adding a kind: a
// struct in resources/resource.h, an alternative of Resource, and its ResourceKind here;
// a new pool, if it needs one, in ResourcePool and resource_manager.cc's Pools.

#ifndef DBS_DEVICE_RESOURCES_INTERNAL_RESOURCE_KINDS_H_
#define DBS_DEVICE_RESOURCES_INTERNAL_RESOURCE_KINDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "dbs_device/base/address_range.h"
#include "dbs_device/base/schema.h"
#include "dbs_device/resources/constraint.h"
#include "dbs_device/resources/resource.h"

namespace dbs::resources_internal {

// The pools of a ResourceManager, one per space of ids.
enum class ResourcePool : uint8_t { kPio, kMmio, kMemory, kLegacyIrq, kMsi, kKvmMemSlot };

// The ids [first, last] (inclusive) a resource holds in its pool.
struct Held {
  ResourcePool pool;
  uint64_t first;
  uint64_t last;
};

// A kind written as one unsigned value, or as bytes, in its oneof field.
template <typename Member>
struct ScalarWire {
  Member member;
};
template <typename Member>
struct BytesWire {
  Member member;
};
template <typename Member>
ScalarWire(Member) -> ScalarWire<Member>;
template <typename Member>
BytesWire(Member) -> BytesWire<Member>;

template <typename K>
struct ResourceKind;

// `size` ids from `base` of `pool`, a space of `space_size` ids (0: 2^64), for resource `r`.
template <typename K>
absl::StatusOr<std::optional<Held>> HeldRange(ResourcePool pool, uint64_t base, uint64_t size,
                                              uint64_t space_size, const K& r) {
  const std::optional<uint64_t> last = internal::LastAddressIn(base, size, space_size);
  if (!last.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ResourceKind<K>::ToString(r), " is empty or runs past the end of its space"));
  }
  return Held{pool, base, *last};
}

template <>
struct ResourceKind<PioRange> {
  static constexpr absl::string_view kName = "PIO";
  static constexpr uint32_t kField = 1;
  static constexpr auto Wire() {
    return schema::Message<PioRange>("PIO range", schema::Presence::kImplicit,
                                     schema::Uint(1, "base", &PioRange::base),
                                     schema::Uint(2, "size", &PioRange::size));
  }
  static absl::StatusOr<std::optional<Held>> HeldBy(const PioRange& r) {
    return HeldRange(ResourcePool::kPio, r.base.raw_value(), r.size.raw_value(), 0x10000, r);
  }
  static std::optional<ResourceConstraint> Exact(const PioRange& r, bool) {
    const auto last = static_cast<uint16_t>(r.base.raw_value() + r.size.raw_value() - 1);
    return PioConstraint{r.size, 1, AddressWindow<PioAddress>{r.base, last}};
  }
  static std::string ToString(const PioRange& r) {
    return absl::StrFormat("PIO 0x%x+0x%x", r.base.raw_value(), r.size.raw_value());
  }
};

// MMIO and guest memory: 64-bit ranges, alike but for their pool, name and constraint.
template <typename K, typename C, ResourcePool kPool, uint32_t kFieldNumber>
struct AddressRangeKind {
  static constexpr uint32_t kField = kFieldNumber;
  static constexpr auto Wire() {
    return schema::Message<K>("address range", schema::Presence::kImplicit,
                              schema::Uint(1, "base", &K::base), schema::Uint(2, "size", &K::size));
  }
  static absl::StatusOr<std::optional<Held>> HeldBy(const K& r) {
    return HeldRange(kPool, r.base.raw_value(), r.size.raw_value(), 0, r);
  }
  static std::optional<ResourceConstraint> Exact(const K& r, bool) {
    const IoAddress last{r.base.raw_value() + (r.size.raw_value() - 1)};
    return C{r.size, 1, AddressWindow<IoAddress>{r.base, last}};
  }
  static std::string ToString(const K& r) {
    return absl::StrFormat("%s 0x%x+0x%x", ResourceKind<K>::kName, r.base.raw_value(),
                           r.size.raw_value());
  }
};
template <>
struct ResourceKind<MmioRange>
    : AddressRangeKind<MmioRange, MmioConstraint, ResourcePool::kMmio, 2> {
  static constexpr absl::string_view kName = "MMIO";
};
template <>
struct ResourceKind<MemRange>
    : AddressRangeKind<MemRange, MemConstraint, ResourcePool::kMemory, 3> {
  static constexpr absl::string_view kName = "memory";
};

template <>
struct ResourceKind<LegacyIrq> {
  static constexpr absl::string_view kName = "IRQ";
  static constexpr uint32_t kField = 4;
  static constexpr auto Wire() { return ScalarWire{&LegacyIrq::irq}; }
  static absl::StatusOr<std::optional<Held>> HeldBy(const LegacyIrq& r) {
    return Held{ResourcePool::kLegacyIrq, r.irq, r.irq};
  }
  static std::optional<ResourceConstraint> Exact(const LegacyIrq& r, bool shared) {
    return LegacyIrqConstraint{r.irq, shared};
  }
  static std::string ToString(const LegacyIrq& r) { return absl::StrFormat("IRQ %u", r.irq); }
};

template <>
struct ResourceKind<MsiIrq> {
  static constexpr absl::string_view kName = "MSI";
  static constexpr uint32_t kField = 5;
  static constexpr auto Wire() {
    return schema::Message<MsiIrq>(
        "MSI block", schema::Presence::kImplicit, schema::Uint(1, "type", &MsiIrq::type),
        schema::Uint(2, "base", &MsiIrq::base), schema::Uint(3, "size", &MsiIrq::size));
  }
  static absl::StatusOr<std::optional<Held>> HeldBy(const MsiIrq& r);
  static std::optional<ResourceConstraint> Exact(const MsiIrq& r, bool);
  static std::string ToString(const MsiIrq& r);
};

template <>
struct ResourceKind<MacAddress> {
  static constexpr absl::string_view kName = "MAC";
  static constexpr uint32_t kField = 6;
  static constexpr auto Wire() { return BytesWire{&MacAddress::bytes}; }
  static absl::StatusOr<std::optional<Held>> HeldBy(const MacAddress&) {
    return std::optional<Held>();
  }
  static std::optional<ResourceConstraint> Exact(const MacAddress&, bool) { return std::nullopt; }
  static std::string ToString(const MacAddress& r) {
    return absl::StrFormat("MAC %02x:%02x:%02x:%02x:%02x:%02x", r.bytes[0], r.bytes[1], r.bytes[2],
                           r.bytes[3], r.bytes[4], r.bytes[5]);
  }
};

template <>
struct ResourceKind<KvmMemSlot> {
  static constexpr absl::string_view kName = "KVM slot";
  static constexpr uint32_t kField = 7;
  static constexpr auto Wire() { return ScalarWire{&KvmMemSlot::slot}; }
  static absl::StatusOr<std::optional<Held>> HeldBy(const KvmMemSlot& r) {
    return Held{ResourcePool::kKvmMemSlot, r.slot, r.slot};
  }
  static std::optional<ResourceConstraint> Exact(const KvmMemSlot& r, bool) {
    return KvmMemSlotConstraint{1, r.slot};
  }
  static std::string ToString(const KvmMemSlot& r) {
    return absl::StrFormat("KVM slot %u", r.slot);
  }
};

// ResourceKind<K> of whichever kind `resource` holds, as `f(kind_tag, value)`.
template <typename F>
decltype(auto) VisitKind(const Resource& resource, F&& f) {
  return std::visit(
      [&f](const auto& r) -> decltype(auto) {
        return f(ResourceKind<std::remove_cvref_t<decltype(r)>>{}, r);
      },
      resource);
}

// The pool and ids `resource` holds (see Held); kInvalidArgument when it is malformed.
absl::StatusOr<std::optional<Held>> HeldBy(const Resource& resource);

}  // namespace dbs::resources_internal

#endif  // DBS_DEVICE_RESOURCES_INTERNAL_RESOURCE_KINDS_H_
