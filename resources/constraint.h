// resources/constraint.h — what a device asks for: a ResourceConstraint, one per resource.
//
//   std::vector<dbs::ResourceConstraint> wants = {
//       dbs::PioConstraint{.size = 8, .range = {{0x3f8, 0x3ff}}},  // exactly COM1
//       dbs::LegacyIrqConstraint{.irq = 4},
//       dbs::MmioConstraint{.size = 0x1000},                      // 4 KiB anywhere
//   };
//
// How the ResourceManager serves each kind is in resources/resource_manager.h.
//
// Thread-safety: plain values.

#ifndef DBS_DEVICE_RESOURCES_CONSTRAINT_H_
#define DBS_DEVICE_RESOURCES_CONSTRAINT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "dbs_device/resources/address.h"

namespace dbs {

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

// "PIO size 0x8 align 0x1 in [0x3f8, 0x3ff]", "legacy IRQ 4 (shared)", ...
std::string ToString(const ResourceConstraint& constraint);

}  // namespace dbs

#endif  // DBS_DEVICE_RESOURCES_CONSTRAINT_H_
