// resources/resource.h — what a device has been given: a Resource, one of seven kinds.
//
// A device states what it needs as ResourceConstraints (resources/constraint.h); the
// ResourceManager answers with concrete Resources ("ports 0x3f8+8", "IRQ 4") in a
// DeviceResources list (resources/device_resources.h), and the IoManager registers the PIO
// and MMIO ranges among them.
//
// Each kind is described once, in resources/internal/resource_kinds.h: its pool and the ids
// it holds there (with the check that it is not empty and lies in its space), the
// constraint that asks for it again, its text form and its field in a snapshot. The
// ResourceManager, the snapshot format and ToString are all written over that description,
// so a new kind is one new struct here and one description there.
//
// Thread-safety: plain values.

#ifndef DBS_DEVICE_RESOURCES_RESOURCE_H_
#define DBS_DEVICE_RESOURCES_RESOURCE_H_

#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <variant>

#include "absl/status/status.h"
#include "dbs_device/resources/address.h"

namespace dbs {

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

// OK, or kInvalidArgument when `resource` is empty or runs past the end of its space
// (0x10000 ports, 2^64 bytes, 2^32 vectors), naming it.
absl::Status Validate(const Resource& resource);

}  // namespace dbs

#endif  // DBS_DEVICE_RESOURCES_RESOURCE_H_
