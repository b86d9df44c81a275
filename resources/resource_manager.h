// resources/resource_manager.h — every resource pool of a VM behind one all-or-nothing call.
//
// A ResourceManager owns the pools a VMM hands device resources out of: the PIO space, one
// or more MMIO windows, the guest-memory window, legacy IRQs, MSI vectors and KVM memory
// slots. AllocateDeviceResources takes a device's constraint list and returns a concrete
// DeviceResources in the same order, or an error with every pool exactly as before: the
// resources taken for the earlier constraints of a failing call are given back.
//
//   dbs::ResourceManager resources = dbs::ResourceManager::X86Defaults();
//   absl::StatusOr<dbs::DeviceResources> got = resources.AllocateDeviceResources(
//       {dbs::PioConstraint{8}, dbs::LegacyIrqConstraint{4}});
//
// How each constraint is served:
// - PIO / MMIO / memory: the lowest fitting range of the pool (first match) inside
//   `range` if given; MMIO tries the windows in the order configured.
// - Legacy IRQ: `irq` if given, else the lowest free one; `shared` IRQs are reference
//   counted and may be given to several devices that all ask for sharing.
// - PCI MSI: `count` rounded up to a power of two (1..32, as MSI's Multiple Message Enable
//   allows), the block aligned to its size. MSI-X and generic MSI: `count` consecutive
//   vectors, no alignment. All three share one vector pool.
// - KVM memory slots: `count` consecutive slots, at `first` exactly if given.
//
// Errors: kInvalidArgument for a malformed constraint (size or count 0, alignment not a
// power of two, a window with min > max), kResourceExhausted when a pool cannot satisfy
// it; FreeDeviceResources returns kNotFound, freeing nothing, if any resource in the list
// is not allocated.
//
// Thread-safety: thread-safe; every call serialises on one internal mutex. Allocation is
// O(k log n) for k constraints and n ranges in a pool.

#ifndef DBS_DEVICE_RESOURCES_RESOURCE_MANAGER_H_
#define DBS_DEVICE_RESOURCES_RESOURCE_MANAGER_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dbs_device/base/mutex.h"
#include "dbs_device/resources/allocator.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

// The pools of a ResourceManager. Ranges are inclusive.
struct ResourceManagerConfig {
  InclusiveRange pio{0, 0xffff};
  // Where a PIO request with no range of its own ("anywhere") is placed; all of `pio` when
  // unset. X86DefaultConfig keeps the legacy ISA ports below 0x1000 for exact requests.
  std::optional<InclusiveRange> pio_anywhere;
  std::vector<InclusiveRange> mmio;  // tried in order
  InclusiveRange mem{0, 0};
  InclusiveRange legacy_irq{0, 23};
  InclusiveRange msi{24, 4095};
  InclusiveRange kvm_mem_slots{0, 32763};
};

class ResourceManager {
 public:
  // REQUIRES: every range in `config` has min <= max, and the IRQ/MSI/slot ranges fit in
  // 32 bits (a malformed pool is empty).
  explicit ResourceManager(const ResourceManagerConfig& config);

  // An x86 PC layout: all 64K ports, "anywhere" requests from the PCI I/O window (0x1000
  // and up) so the legacy ports below stay for the devices that live there; MMIO below 4 GiB in
  // [0xd0000000, 0xfebfffff] then [1 TiB, 256 TiB); guest memory in [0, 1 TiB); IRQs 0-23 (IOAPIC
  // pins); MSI vectors (GSIs) 24-4095; KVM slots 0-32763.
  static ResourceManager X86Defaults();
  static ResourceManagerConfig X86DefaultConfig();

  // Allocates one resource per constraint, in order, or nothing.
  [[nodiscard]] absl::StatusOr<DeviceResources> AllocateDeviceResources(
      absl::Span<const ResourceConstraint> constraints) ABSL_LOCKS_EXCLUDED(mu_);

  // Gives back every resource of `resources` (MAC addresses are ignored), or nothing.
  [[nodiscard]] absl::Status FreeDeviceResources(const DeviceResources& resources)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Takes specific resources out of the pools (e.g. the ports of a built-in device, the
  // guest's RAM, slot 0), all or nothing. Freed with FreeDeviceResources.
  [[nodiscard]] absl::Status ReserveResources(absl::Span<const Resource> resources)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The same, with a legacy IRQ among `resources` taken shareable when `share_legacy_irq`
  // is set (joining the devices that already share it), as LegacyIrqConstraint{.shared =
  // true} would have: how a restore gives a device back exactly what it had.
  [[nodiscard]] absl::Status ReserveResources(absl::Span<const Resource> resources,
                                              bool share_legacy_irq) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct FreedResource {
    Resource resource;
    bool was_shared;  // a shared legacy IRQ comes back shared
  };
  // Give back what a failing call took / take back what it freed, newest first.
  void UndoTakes(absl::Span<const Resource> taken) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UndoFrees(absl::Span<const FreedResource> freed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable internal::Mutex mu_;
  struct Pools {
    IntervalAllocator pio;
    std::vector<IntervalAllocator> mmio;
    IntervalAllocator mem;
    IdAllocator legacy_irq;
    IdAllocator msi;
    IdAllocator kvm_mem_slots;
    InclusiveRange pio_anywhere;  // a window of `pio`, not a pool
  };
  Pools pools_ ABSL_GUARDED_BY(mu_);

  // One resource from / back to the pools; the caller holds mu_.
  static absl::StatusOr<Resource> AllocateOne(Pools& pools, const ResourceConstraint& constraint);
  static absl::Status ReserveOne(Pools& pools, const Resource& resource);
  static absl::Status FreeOne(Pools& pools, const Resource& resource);
};

}  // namespace dbs

#endif  // DBS_DEVICE_RESOURCES_RESOURCE_MANAGER_H_
