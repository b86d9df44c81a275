// resources/device_resources.h — the ordered list of resources assigned to one device.
//
//   dbs::DeviceResources got = *resources.AllocateDeviceResources(constraints);
//   uint16_t port = got.PioRanges()[0].base.raw_value();
//   std::optional<uint32_t> irq = got.LegacyIrqNumber();
//
// Iterable, convertible to absl::Span<const Resource>, with getters by kind that keep the
// order of appending.
//
// Thread-safety: a plain value.

#ifndef DBS_DEVICE_RESOURCES_DEVICE_RESOURCES_H_
#define DBS_DEVICE_RESOURCES_DEVICE_RESOURCES_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "dbs_device/resources/constraint.h"
#include "dbs_device/resources/resource.h"

namespace dbs {

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

  // Every resource of kind K, in order (`All<PioRange>()`).
  template <typename K>
  std::vector<K> All() const {
    std::vector<K> out;
    for (const Resource& r : resources_) {
      if (const K* value = std::get_if<K>(&r)) out.push_back(*value);
    }
    return out;
  }
  // The first resource of kind K, if any.
  template <typename K>
  std::optional<K> First() const {
    for (const Resource& r : resources_) {
      if (const K* value = std::get_if<K>(&r)) return *value;
    }
    return std::nullopt;
  }

  std::vector<PioRange> PioRanges() const { return All<PioRange>(); }
  std::vector<MmioRange> MmioRanges() const { return All<MmioRange>(); }
  std::vector<MemRange> MemRanges() const { return All<MemRange>(); }
  // The number of the first legacy IRQ, if any. (LegacyIrq() is its older name, which
  // shares the name of the LegacyIrq type.)
  std::optional<uint32_t> LegacyIrqNumber() const;
  std::optional<uint32_t> LegacyIrq() const { return LegacyIrqNumber(); }
  // The first MSI block of each type, if any.
  std::optional<MsiIrq> PciMsiIrqs() const { return FirstMsi(MsiIrqType::kPciMsi); }
  std::optional<MsiIrq> PciMsixIrqs() const { return FirstMsi(MsiIrqType::kPciMsix); }
  std::optional<MsiIrq> GenericMsiIrqs() const { return FirstMsi(MsiIrqType::kGenericMsi); }
  // All KVM memory slot numbers, in order.
  std::vector<uint32_t> KvmMemSlots() const;
  std::optional<MacAddress> GetMacAddress() const { return First<MacAddress>(); }

  friend bool operator==(const DeviceResources&, const DeviceResources&) = default;

 private:
  std::optional<MsiIrq> FirstMsi(MsiIrqType type) const;

  std::vector<Resource> resources_;
};

// "{PIO 0x3f8+0x8, IRQ 4}".
std::ostream& operator<<(std::ostream& os, const DeviceResources& resources);

// Constraints that ask for `resources` again, in order: each PIO, MMIO and memory range
// exactly at its base, each legacy IRQ and KVM slot by number (the IRQ shareable when
// `shared_legacy_irq`), each MSI block by its size (an MSI constraint names no base). What
// a device restored from a snapshot reports as its constraints.
std::vector<ResourceConstraint> ExactConstraints(const DeviceResources& resources,
                                                 bool shared_legacy_irq = false);

}  // namespace dbs

#endif  // DBS_DEVICE_RESOURCES_DEVICE_RESOURCES_H_
