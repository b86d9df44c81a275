// resources/resources.h — the value types of the device model.
//
// A device states what it needs as a list of ResourceConstraint values ("8 ports,
// anywhere in 0x3f8..0x3ff", "one legacy IRQ"), the ResourceManager answers with a
// DeviceResources list of concrete Resource values ("ports 0x3f8+8", "IRQ 4"), and the
// IoManager registers the PIO and MMIO ranges among them.
//
// Addresses and sizes are small strong types: IoAddress/IoSize (64-bit, MMIO and the
// generic bus) and PioAddress/PioSize (16-bit, x86 port I/O). Each is constructible from
// its raw value (`PioAddress{0x3f8}`), compares, prints, and exposes `raw_value()`.
// A 16-bit value widens implicitly to the 64-bit one; narrowing is explicit and checked
// (`PioAddress::FromIoAddress` returns kOutOfRange for a value above 0xffff) so an address
// is never silently truncated.
//
// Thread-safety: all types here are plain values; concurrent reads are safe, writes need
// external synchronisation as for any value.

#ifndef DBS_DEVICE_RESOURCES_RESOURCES_H_
#define DBS_DEVICE_RESOURCES_RESOURCES_H_

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace dbs {

namespace resources_internal {

// A strong integer type: Tag keeps IoAddress and IoSize from mixing.
template <typename Raw, typename Tag>
class StrongValue {
 public:
  using RawType = Raw;

  constexpr StrongValue() = default;
  // Implicit from the raw type, so `PioRange{0x3f8, 8}` reads naturally; list
  // initialisation still rejects a narrowing run-time value.
  constexpr StrongValue(Raw raw) : raw_(raw) {}  // NOLINT(google-explicit-constructor)

  constexpr Raw raw_value() const { return raw_; }

  friend constexpr bool operator==(StrongValue, StrongValue) = default;
  friend constexpr auto operator<=>(StrongValue, StrongValue) = default;

 private:
  Raw raw_ = 0;
};

struct IoAddressTag;
struct IoSizeTag;
struct PioAddressTag;
struct PioSizeTag;

}  // namespace resources_internal

// An address on the 64-bit I/O bus (MMIO, or an offset inside a range).
class IoAddress
    : public resources_internal::StrongValue<uint64_t, resources_internal::IoAddressTag> {
 public:
  using StrongValue::StrongValue;
};

// A size on the 64-bit I/O bus.
class IoSize : public resources_internal::StrongValue<uint64_t, resources_internal::IoSizeTag> {
 public:
  using StrongValue::StrongValue;
};

// An x86 I/O port number.
class PioAddress
    : public resources_internal::StrongValue<uint16_t, resources_internal::PioAddressTag> {
 public:
  using StrongValue::StrongValue;

  // Checked narrowing: kOutOfRange if `address` does not fit in 16 bits.
  static absl::StatusOr<PioAddress> FromIoAddress(IoAddress address);

  // Widening never fails.
  constexpr operator IoAddress() const { return IoAddress{raw_value()}; }  // NOLINT
};

// A size in x86 port space.
class PioSize : public resources_internal::StrongValue<uint16_t, resources_internal::PioSizeTag> {
 public:
  using StrongValue::StrongValue;

  // Checked narrowing: kOutOfRange if `size` does not fit in 16 bits.
  static absl::StatusOr<PioSize> FromIoSize(IoSize size);

  constexpr operator IoSize() const { return IoSize{raw_value()}; }  // NOLINT
};

std::ostream& operator<<(std::ostream& os, IoAddress value);
std::ostream& operator<<(std::ostream& os, IoSize value);
std::ostream& operator<<(std::ostream& os, PioAddress value);
std::ostream& operator<<(std::ostream& os, PioSize value);

// ---------------------------------------------------------------------------------------
// Resources: what a device has been given.

// `size` ports starting at `base`.
struct PioRange {
  PioAddress base{};
  PioSize size{};
  friend bool operator==(const PioRange&, const PioRange&) = default;
};

// `size` bytes of MMIO space starting at `base`.
struct MmioRange {
  IoAddress base{};
  IoSize size{};
  friend bool operator==(const MmioRange&, const MmioRange&) = default;
};

// `size` bytes of guest memory starting at guest-physical `base`.
struct MemRange {
  IoAddress base{};
  IoSize size{};
  friend bool operator==(const MemRange&, const MemRange&) = default;
};

// A legacy (INTx / ISA) interrupt line.
struct LegacyIrq {
  uint32_t irq = 0;
  friend bool operator==(const LegacyIrq&, const LegacyIrq&) = default;
};

enum class MsiIrqType {
  kPciMsi,      // PCI MSI: blocks of a power of two, aligned to their size
  kPciMsix,     // PCI MSI-X: any count, no alignment
  kGenericMsi,  // MSI for non-PCI devices (e.g. virtio-mmio): any count
};

// A block of `size` consecutive MSI vectors starting at `base`.
struct MsiIrq {
  MsiIrqType type = MsiIrqType::kGenericMsi;
  uint32_t base = 0;
  uint32_t size = 0;
  friend bool operator==(const MsiIrq&, const MsiIrq&) = default;
};

// A network device's MAC address.
struct MacAddress {
  std::array<uint8_t, 6> bytes{};
  friend bool operator==(const MacAddress&, const MacAddress&) = default;
};

// A KVM memory slot number.
struct KvmMemSlot {
  uint32_t slot = 0;
  friend bool operator==(const KvmMemSlot&, const KvmMemSlot&) = default;
};

using Resource =
    std::variant<PioRange, MmioRange, MemRange, LegacyIrq, MsiIrq, MacAddress, KvmMemSlot>;

// "PIO 0x3f8+0x8", "MMIO 0xd0000000+0x1000", "IRQ 4", ... for messages and logs.
std::string ToString(const Resource& resource);
std::ostream& operator<<(std::ostream& os, const Resource& resource);

// An ordered list of resources assigned to one device. Iterable, convertible to
// absl::Span<const Resource>, with getters by kind that keep the order of appending.
class DeviceResources {
 public:
  DeviceResources() = default;
  DeviceResources(std::initializer_list<Resource> resources) : resources_(resources) {}
  explicit DeviceResources(std::vector<Resource> resources) : resources_(std::move(resources)) {}

  void Append(Resource resource) { resources_.push_back(std::move(resource)); }
  // Room for `n` resources, so that appending them allocates once.
  void Reserve(size_t n) { resources_.reserve(n); }

  std::vector<Resource>::const_iterator begin() const { return resources_.begin(); }
  std::vector<Resource>::const_iterator end() const { return resources_.end(); }
  size_t size() const { return resources_.size(); }
  bool empty() const { return resources_.empty(); }
  const Resource& operator[](size_t i) const { return resources_[i]; }

  absl::Span<const Resource> span() const { return resources_; }
  operator absl::Span<const Resource>() const { return resources_; }  // NOLINT

  // All PIO ranges, in order.
  std::vector<PioRange> PioRanges() const;
  // All MMIO ranges, in order.
  std::vector<MmioRange> MmioRanges() const;
  // All guest-memory ranges, in order.
  std::vector<MemRange> MemRanges() const;
  // The first legacy IRQ, if any.
  std::optional<uint32_t> LegacyIrq() const;
  // The first MSI block of each type, if any.
  std::optional<MsiIrq> PciMsiIrqs() const;
  std::optional<MsiIrq> PciMsixIrqs() const;
  std::optional<MsiIrq> GenericMsiIrqs() const;
  // All KVM memory slot numbers, in order.
  std::vector<uint32_t> KvmMemSlots() const;
  // The first MAC address, if any.
  std::optional<MacAddress> GetMacAddress() const;

  friend bool operator==(const DeviceResources&, const DeviceResources&) = default;

 private:
  std::optional<MsiIrq> FirstMsi(MsiIrqType type) const;

  std::vector<Resource> resources_;
};

std::ostream& operator<<(std::ostream& os, const DeviceResources& resources);

// ---------------------------------------------------------------------------------------
// Constraints: what a device asks for.

// An inclusive window [min, max] that an allocation must fall inside.
template <typename Address>
struct AddressWindow {
  Address min{};
  Address max{};
  friend bool operator==(const AddressWindow&, const AddressWindow&) = default;
};

// `size` ports aligned to `align`, inside `range` if given (else anywhere in the PIO pool).
struct PioConstraint {
  PioSize size{};
  PioSize align = 1;
  std::optional<AddressWindow<PioAddress>> range = std::nullopt;
};

// `size` bytes of MMIO space aligned to `align`, inside `range` if given.
struct MmioConstraint {
  IoSize size{};
  IoSize align = 0x1000;
  std::optional<AddressWindow<IoAddress>> range = std::nullopt;
};

// `size` bytes of guest memory aligned to `align`, inside `range` if given.
struct MemConstraint {
  IoSize size{};
  IoSize align = 0x1000;
  std::optional<AddressWindow<IoAddress>> range = std::nullopt;
};

// One legacy IRQ: `irq` if given, else any free one. With `shared`, the IRQ may also be
// given to other devices that ask for sharing (it is reference counted); without it, the
// IRQ is exclusive.
struct LegacyIrqConstraint {
  std::optional<uint32_t> irq = std::nullopt;
  bool shared = false;
};

// `count` PCI MSI vectors: rounded up to a power of two and aligned to it (PCI spec).
struct PciMsiIrqConstraint {
  uint32_t count = 0;
};

// `count` PCI MSI-X vectors, consecutive, no alignment.
struct PciMsixIrqConstraint {
  uint32_t count = 0;
};

// `count` generic MSI vectors, consecutive, no alignment.
struct GenericIrqConstraint {
  uint32_t count = 0;
};

// `count` KVM memory slots, consecutive; starting exactly at `first` if given.
struct KvmMemSlotConstraint {
  uint32_t count = 1;
  std::optional<uint32_t> first = std::nullopt;
};

using ResourceConstraint =
    std::variant<PioConstraint, MmioConstraint, MemConstraint, LegacyIrqConstraint,
                 PciMsiIrqConstraint, PciMsixIrqConstraint, GenericIrqConstraint,
                 KvmMemSlotConstraint>;

std::string ToString(const ResourceConstraint& constraint);

// Constraints that ask for `resources` again, in order: each PIO, MMIO and memory range
// exactly at its base, each legacy IRQ and KVM slot by number (the IRQ shareable when
// `shared_legacy_irq`), each MSI block by its size (an MSI constraint names no base). What
// a device restored from a snapshot reports as its constraints.
std::vector<ResourceConstraint> ExactConstraints(const DeviceResources& resources,
                                                 bool shared_legacy_irq = false);

}  // namespace dbs

#endif  // DBS_DEVICE_RESOURCES_RESOURCES_H_
