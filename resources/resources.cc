#include "dbs_device/resources/resources.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dbs_device/base/overloaded.h"

namespace dbs {

using internal::Overloaded;

absl::StatusOr<PioAddress> PioAddress::FromIoAddress(IoAddress address) {
  if (address.raw_value() > std::numeric_limits<uint16_t>::max()) {
    return absl::OutOfRangeError(
        absl::StrFormat("address %#x does not fit in the 16-bit port space", address.raw_value()));
  }
  return PioAddress{static_cast<uint16_t>(address.raw_value())};
}

absl::StatusOr<PioSize> PioSize::FromIoSize(IoSize size) {
  if (size.raw_value() > std::numeric_limits<uint16_t>::max()) {
    return absl::OutOfRangeError(
        absl::StrFormat("size %#x does not fit in the 16-bit port space", size.raw_value()));
  }
  return PioSize{static_cast<uint16_t>(size.raw_value())};
}

std::ostream& operator<<(std::ostream& os, IoAddress value) {
  return os << absl::StrFormat("%#x", value.raw_value());
}
std::ostream& operator<<(std::ostream& os, IoSize value) {
  return os << absl::StrFormat("%#x", value.raw_value());
}
std::ostream& operator<<(std::ostream& os, PioAddress value) {
  return os << absl::StrFormat("%#x", value.raw_value());
}
std::ostream& operator<<(std::ostream& os, PioSize value) {
  return os << absl::StrFormat("%#x", value.raw_value());
}

namespace {

std::string_view MsiTypeName(MsiIrqType type) {
  switch (type) {
    case MsiIrqType::kPciMsi:
      return "PCI MSI";
    case MsiIrqType::kPciMsix:
      return "PCI MSI-X";
    case MsiIrqType::kGenericMsi:
      return "generic MSI";
  }
  return "MSI";
}

template <typename Window>
std::string WindowSuffix(const std::optional<Window>& window) {
  if (!window.has_value()) return "";
  return absl::StrFormat(" in [%#x, %#x]", window->min.raw_value(), window->max.raw_value());
}

}  // namespace

std::string ToString(const Resource& resource) {
  return std::visit(
      Overloaded{
          [](const PioRange& r) {
            return absl::StrFormat("PIO %#x+%#x", r.base.raw_value(), r.size.raw_value());
          },
          [](const MmioRange& r) {
            return absl::StrFormat("MMIO %#x+%#x", r.base.raw_value(), r.size.raw_value());
          },
          [](const MemRange& r) {
            return absl::StrFormat("memory %#x+%#x", r.base.raw_value(), r.size.raw_value());
          },
          [](const LegacyIrq& r) { return absl::StrFormat("IRQ %u", r.irq); },
          [](const MsiIrq& r) {
            return absl::StrFormat("%s vectors %u+%u", MsiTypeName(r.type), r.base, r.size);
          },
          [](const MacAddress& r) {
            return absl::StrFormat("MAC %02x:%02x:%02x:%02x:%02x:%02x", r.bytes[0], r.bytes[1],
                                   r.bytes[2], r.bytes[3], r.bytes[4], r.bytes[5]);
          },
          [](const KvmMemSlot& r) { return absl::StrFormat("KVM slot %u", r.slot); },
      },
      resource);
}

std::ostream& operator<<(std::ostream& os, const Resource& resource) {
  return os << ToString(resource);
}

std::string ToString(const ResourceConstraint& constraint) {
  return std::visit(
      Overloaded{
          [](const PioConstraint& c) {
            return absl::StrFormat("PIO size %#x align %#x", c.size.raw_value(),
                                   c.align.raw_value()) +
                   WindowSuffix(c.range);
          },
          [](const MmioConstraint& c) {
            return absl::StrFormat("MMIO size %#x align %#x", c.size.raw_value(),
                                   c.align.raw_value()) +
                   WindowSuffix(c.range);
          },
          [](const MemConstraint& c) {
            return absl::StrFormat("memory size %#x align %#x", c.size.raw_value(),
                                   c.align.raw_value()) +
                   WindowSuffix(c.range);
          },
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

namespace {

template <typename T>
std::vector<T> AllOf(absl::Span<const Resource> resources) {
  std::vector<T> out;
  for (const Resource& r : resources) {
    if (const T* value = std::get_if<T>(&r)) out.push_back(*value);
  }
  return out;
}

template <typename T>
const T* FirstOf(absl::Span<const Resource> resources) {
  for (const Resource& r : resources) {
    if (const T* value = std::get_if<T>(&r)) return value;
  }
  return nullptr;
}

}  // namespace

std::vector<PioRange> DeviceResources::PioRanges() const { return AllOf<PioRange>(resources_); }

std::vector<MmioRange> DeviceResources::MmioRanges() const { return AllOf<MmioRange>(resources_); }

std::vector<MemRange> DeviceResources::MemRanges() const { return AllOf<MemRange>(resources_); }

std::optional<uint32_t> DeviceResources::LegacyIrq() const {
  if (const dbs::LegacyIrq* irq = FirstOf<dbs::LegacyIrq>(resources_)) return irq->irq;
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

std::optional<MsiIrq> DeviceResources::PciMsiIrqs() const { return FirstMsi(MsiIrqType::kPciMsi); }

std::optional<MsiIrq> DeviceResources::PciMsixIrqs() const {
  return FirstMsi(MsiIrqType::kPciMsix);
}

std::optional<MsiIrq> DeviceResources::GenericMsiIrqs() const {
  return FirstMsi(MsiIrqType::kGenericMsi);
}

std::vector<uint32_t> DeviceResources::KvmMemSlots() const {
  std::vector<uint32_t> slots;
  for (const KvmMemSlot& slot : AllOf<KvmMemSlot>(resources_)) slots.push_back(slot.slot);
  return slots;
}

std::optional<MacAddress> DeviceResources::GetMacAddress() const {
  if (const MacAddress* mac = FirstOf<MacAddress>(resources_)) return *mac;
  return std::nullopt;
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
    std::visit(
        Overloaded{
            [&](const PioRange& r) {
              const auto last = static_cast<uint16_t>(r.base.raw_value() + r.size.raw_value() - 1);
              out.push_back(PioConstraint{r.size, 1, AddressWindow<PioAddress>{r.base, last}});
            },
            [&](const MmioRange& r) {
              const IoAddress last{r.base.raw_value() + (r.size.raw_value() - 1)};
              out.push_back(MmioConstraint{r.size, 1, AddressWindow<IoAddress>{r.base, last}});
            },
            [&](const MemRange& r) {
              const IoAddress last{r.base.raw_value() + (r.size.raw_value() - 1)};
              out.push_back(MemConstraint{r.size, 1, AddressWindow<IoAddress>{r.base, last}});
            },
            [&](const LegacyIrq& r) {
              out.push_back(LegacyIrqConstraint{r.irq, shared_legacy_irq});
            },
            [&](const MsiIrq& r) {
              switch (r.type) {
                case MsiIrqType::kPciMsi:
                  out.push_back(PciMsiIrqConstraint{r.size});
                  break;
                case MsiIrqType::kPciMsix:
                  out.push_back(PciMsixIrqConstraint{r.size});
                  break;
                case MsiIrqType::kGenericMsi:
                  out.push_back(GenericIrqConstraint{r.size});
                  break;
              }
            },
            [&](const MacAddress&) {},
            [&](const KvmMemSlot& r) {
              out.push_back(KvmMemSlotConstraint{1, r.slot});
            },
        },
        resource);
  }
  return out;
}

}  // namespace dbs
