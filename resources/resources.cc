#include "dbs_device/resources/resources.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dbs_device/base/overloaded.h"
#include "dbs_device/resources/internal/resource_kinds.h"

namespace dbs {

using internal::Overloaded;
using resources_internal::ResourceKind;
using resources_internal::VisitKind;

absl::StatusOr<PioAddress> PioAddress::FromIoAddress(IoAddress address) {
  if (address.raw_value() > std::numeric_limits<uint16_t>::max()) {
    return absl::OutOfRangeError(
        absl::StrFormat("address 0x%x does not fit in the 16-bit port space", address.raw_value()));
  }
  return PioAddress{static_cast<uint16_t>(address.raw_value())};
}

absl::StatusOr<PioSize> PioSize::FromIoSize(IoSize size) {
  if (size.raw_value() > std::numeric_limits<uint16_t>::max()) {
    return absl::OutOfRangeError(
        absl::StrFormat("size 0x%x does not fit in the 16-bit port space", size.raw_value()));
  }
  return PioSize{static_cast<uint16_t>(size.raw_value())};
}

std::ostream& operator<<(std::ostream& os, IoAddress value) {
  return os << absl::StrFormat("0x%x", value.raw_value());
}
std::ostream& operator<<(std::ostream& os, IoSize value) {
  return os << absl::StrFormat("0x%x", value.raw_value());
}
std::ostream& operator<<(std::ostream& os, PioAddress value) {
  return os << absl::StrFormat("0x%x", value.raw_value());
}
std::ostream& operator<<(std::ostream& os, PioSize value) {
  return os << absl::StrFormat("0x%x", value.raw_value());
}

// --- Resources, over their descriptions (resources/internal/resource_kinds.h) -----------

std::string ToString(const Resource& resource) {
  return VisitKind(resource, [](auto kind, const auto& r) { return kind.ToString(r); });
}

std::ostream& operator<<(std::ostream& os, const Resource& resource) {
  return os << ToString(resource);
}

absl::Status Validate(const Resource& resource) {
  return resources_internal::HeldBy(resource).status();
}

namespace resources_internal {

absl::StatusOr<std::optional<Held>> HeldBy(const Resource& resource) {
  return VisitKind(resource, [](auto kind, const auto& r) { return kind.HeldBy(r); });
}

absl::StatusOr<std::optional<Held>> ResourceKind<MsiIrq>::HeldBy(const MsiIrq& r) {
  if (r.type > MsiIrqType::kGenericMsi) {
    return absl::InvalidArgumentError(
        absl::StrCat("an MSI block of type ", static_cast<int>(r.type), ", which is no type"));
  }
  return HeldRange(ResourcePool::kMsi, r.base, r.size, uint64_t{1} << 32, r);
}

std::optional<ResourceConstraint> ResourceKind<MsiIrq>::Exact(const MsiIrq& r, bool) {
  switch (r.type) {
    case MsiIrqType::kPciMsi:
      return PciMsiIrqConstraint{r.size};
    case MsiIrqType::kPciMsix:
      return PciMsixIrqConstraint{r.size};
    case MsiIrqType::kGenericMsi:
      break;
  }
  return GenericIrqConstraint{r.size};
}

std::string ResourceKind<MsiIrq>::ToString(const MsiIrq& r) {
  absl::string_view type = "generic MSI";
  if (r.type == MsiIrqType::kPciMsi) type = "PCI MSI";
  if (r.type == MsiIrqType::kPciMsix) type = "PCI MSI-X";
  return absl::StrFormat("%s vectors %u+%u", type, r.base, r.size);
}

}  // namespace resources_internal

// --- Constraints -----------------------------------------------------------------------

namespace {

template <typename Window>
std::string WindowSuffix(const std::optional<Window>& window) {
  if (!window.has_value()) return "";
  return absl::StrFormat(" in [0x%x, 0x%x]", window->min.raw_value(), window->max.raw_value());
}

template <typename C>
std::string RangeConstraintString(absl::string_view what, const C& c) {
  return absl::StrFormat("%s size 0x%x align 0x%x", what, c.size.raw_value(), c.align.raw_value()) +
         WindowSuffix(c.range);
}

}  // namespace

std::string ToString(const ResourceConstraint& constraint) {
  return std::visit(
      Overloaded{
          [](const PioConstraint& c) { return RangeConstraintString("PIO", c); },
          [](const MmioConstraint& c) { return RangeConstraintString("MMIO", c); },
          [](const MemConstraint& c) { return RangeConstraintString("memory", c); },
          [](const LegacyIrqConstraint& c) {
            std::string irq = c.irq.has_value() ? absl::StrCat(*c.irq) : "any";
            return absl::StrCat("legacy IRQ ", irq, c.shared ? " (shared)" : "");
          },
          [](const PciMsiIrqConstraint& c) { return absl::StrCat("PCI MSI x", c.count); },
          [](const PciMsixIrqConstraint& c) { return absl::StrCat("PCI MSI-X x", c.count); },
          [](const GenericIrqConstraint& c) { return absl::StrCat("generic MSI x", c.count); },
          [](const KvmMemSlotConstraint& c) {
            std::string first = c.first.has_value() ? absl::StrCat(" from ", *c.first) : "";
            return absl::StrCat("KVM slots x", c.count, first);
          },
      },
      constraint);
}

// --- DeviceResources -------------------------------------------------------------------

std::optional<uint32_t> DeviceResources::LegacyIrqNumber() const {
  if (std::optional<dbs::LegacyIrq> irq = First<dbs::LegacyIrq>()) return irq->irq;
  return std::nullopt;
}

std::optional<MsiIrq> DeviceResources::FirstMsi(MsiIrqType type) const {
  for (const Resource& r : resources_) {
    if (const MsiIrq* msi = std::get_if<MsiIrq>(&r); msi != nullptr && msi->type == type) {
      return *msi;
    }
  }
  return std::nullopt;
}

std::vector<uint32_t> DeviceResources::KvmMemSlots() const {
  std::vector<uint32_t> slots;
  for (const KvmMemSlot& slot : All<KvmMemSlot>()) slots.push_back(slot.slot);
  return slots;
}

std::ostream& operator<<(std::ostream& os, const DeviceResources& resources) {
  os << "{";
  const char* separator = "";
  for (const Resource& r : resources) {
    os << separator << r;
    separator = ", ";
  }
  return os << "}";
}

std::vector<ResourceConstraint> ExactConstraints(const DeviceResources& resources,
                                                 bool shared_legacy_irq) {
  std::vector<ResourceConstraint> out;
  for (const Resource& resource : resources) {
    std::optional<ResourceConstraint> exact = VisitKind(
        resource, [&](auto kind, const auto& r) { return kind.Exact(r, shared_legacy_irq); });
    if (exact.has_value()) out.push_back(*std::move(exact));
  }
  return out;
}

}  // namespace dbs
