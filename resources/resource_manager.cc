#include "dbs_device/resources/resource_manager.h"

#include <bit>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dbs_device/base/overloaded.h"
#include "dbs_device/resources/internal/resource_kinds.h"

namespace dbs {

using internal::Overloaded;
using resources_internal::Held;
using resources_internal::ResourcePool;

namespace {

constexpr uint32_t kMaxPciMsiVectors = 32;

IdAllocator MakeIdPool(const InclusiveRange& range) {
  constexpr uint64_t kMax32 = std::numeric_limits<uint32_t>::max();
  if (range.min > range.max || range.max > kMax32) return IdAllocator(1, 0);
  return IdAllocator(static_cast<uint32_t>(range.min), static_cast<uint32_t>(range.max));
}

// Clips an optional constraint window to a pool's window.
template <typename Window>
Constraint MakeConstraint(uint64_t size, uint64_t align, const std::optional<Window>& window) {
  Constraint c{size, 0, std::numeric_limits<uint64_t>::max(), align, AllocPolicy::kFirstMatch};
  if (window.has_value()) {
    c.min = window->min.raw_value();
    c.max = window->max.raw_value();
  }
  return c;
}

absl::Status WithContext(const absl::Status& status, const ResourceConstraint& constraint) {
  return absl::Status(status.code(), absl::StrCat(ToString(constraint), ": ", status.message()));
}

}  // namespace

ResourceManager::ResourceManager(const ResourceManagerConfig& config)
    : pools_{IntervalAllocator(config.pio.max <= 0xffff ? config.pio : InclusiveRange{1, 0}),
             {},
             IntervalAllocator(config.mem),
             MakeIdPool(config.legacy_irq),
             MakeIdPool(config.msi),
             MakeIdPool(config.kvm_mem_slots),
             config.pio_anywhere.value_or(config.pio)} {
  internal::MutexLock lock(&mu_);
  for (const InclusiveRange& window : config.mmio) pools_.mmio.emplace_back(window);
}

ResourceManagerConfig ResourceManager::X86DefaultConfig() {
  ResourceManagerConfig config;
  config.pio = {0, 0xffff};
  config.pio_anywhere = InclusiveRange{0x1000, 0xffff};
  config.mmio = {{0xd0000000, 0xfebfffff}, {uint64_t{1} << 40, (uint64_t{1} << 48) - 1}};
  config.mem = {0, (uint64_t{1} << 40) - 1};
  config.legacy_irq = {0, 23};
  config.msi = {24, 4095};
  config.kvm_mem_slots = {0, 32763};
  return config;
}

ResourceManager ResourceManager::X86Defaults() { return ResourceManager(X86DefaultConfig()); }

absl::StatusOr<Resource> ResourceManager::AllocateOne(Pools& p,
                                                      const ResourceConstraint& constraint) {
  return std::visit(
      Overloaded{
          [&](const PioConstraint& c) -> absl::StatusOr<Resource> {
            Constraint want = MakeConstraint(c.size.raw_value(), c.align.raw_value(), c.range);
            if (!c.range.has_value()) {
              want.min = p.pio_anywhere.min;
              want.max = p.pio_anywhere.max;
            }
            absl::StatusOr<InclusiveRange> r = p.pio.Allocate(want);
            if (!r.ok()) return r.status();
            return PioRange{static_cast<uint16_t>(r->min), c.size};
          },
          [&](const MmioConstraint& c) -> absl::StatusOr<Resource> {
            const Constraint want =
                MakeConstraint(c.size.raw_value(), c.align.raw_value(), c.range);
            absl::Status last = absl::ResourceExhaustedError("no MMIO window is configured");
            for (IntervalAllocator& window : p.mmio) {
              absl::StatusOr<InclusiveRange> r = window.Allocate(want);
              if (r.ok()) return MmioRange{r->min, c.size};
              // A malformed constraint is malformed in every window.
              if (r.status().code() == absl::StatusCode::kInvalidArgument) return r.status();
              last = r.status();
            }
            return last;
          },
          [&](const MemConstraint& c) -> absl::StatusOr<Resource> {
            absl::StatusOr<InclusiveRange> r =
                p.mem.Allocate(MakeConstraint(c.size.raw_value(), c.align.raw_value(), c.range));
            if (!r.ok()) return r.status();
            return MemRange{r->min, c.size};
          },
          [&](const LegacyIrqConstraint& c) -> absl::StatusOr<Resource> {
            absl::StatusOr<uint32_t> irq =
                c.shared ? p.legacy_irq.AllocateShared(c.irq) : p.legacy_irq.Allocate(c.irq);
            if (!irq.ok()) return irq.status();
            return LegacyIrq{*irq};
          },
          [&](const PciMsiIrqConstraint& c) -> absl::StatusOr<Resource> {
            if (c.count == 0 || c.count > kMaxPciMsiVectors) {
              return absl::InvalidArgumentError(
                  absl::StrFormat("PCI MSI needs 1 to %u vectors", kMaxPciMsiVectors));
            }
            const uint32_t size = std::bit_ceil(c.count);
            absl::StatusOr<uint32_t> base = p.msi.AllocateBlock(size, size);
            if (!base.ok()) return base.status();
            return MsiIrq{MsiIrqType::kPciMsi, *base, size};
          },
          [&](const PciMsixIrqConstraint& c) -> absl::StatusOr<Resource> {
            absl::StatusOr<uint32_t> base = p.msi.AllocateBlock(c.count);
            if (!base.ok()) return base.status();
            return MsiIrq{MsiIrqType::kPciMsix, *base, c.count};
          },
          [&](const GenericIrqConstraint& c) -> absl::StatusOr<Resource> {
            absl::StatusOr<uint32_t> base = p.msi.AllocateBlock(c.count);
            if (!base.ok()) return base.status();
            return MsiIrq{MsiIrqType::kGenericMsi, *base, c.count};
          },
          [&](const KvmMemSlotConstraint& c) -> absl::StatusOr<Resource> {
            // The first of `count` consecutive slots; the caller appends one per slot.
            // Each slot is freed on its own, so the block is held as single IDs.
            absl::StatusOr<uint32_t> first = p.kvm_mem_slots.AllocateBlock(c.count, 1, c.first);
            if (!first.ok()) return first.status();
            (void)p.kvm_mem_slots.FreeBlock(*first, c.count);
            for (uint32_t i = 0; i < c.count; ++i) (void)p.kvm_mem_slots.Allocate(*first + i);
            return KvmMemSlot{*first};
          },
      },
      constraint);
}

absl::StatusOr<DeviceResources> ResourceManager::AllocateDeviceResources(
    absl::Span<const ResourceConstraint> constraints) {
  internal::MutexLock lock(&mu_);
  DeviceResources out;
  for (const ResourceConstraint& constraint : constraints) {
    absl::StatusOr<Resource> got = AllocateOne(pools_, constraint);
    if (!got.ok()) {
      UndoTakes(out);
      return WithContext(got.status(), constraint);
    }
    if (const auto* slots = std::get_if<KvmMemSlotConstraint>(&constraint)) {
      const uint32_t first = std::get<KvmMemSlot>(*got).slot;
      for (uint32_t i = 0; i < slots->count; ++i) out.Append(KvmMemSlot{first + i});
    } else {
      out.Append(*std::move(got));
    }
  }
  return out;
}

absl::Status ResourceManager::ReserveOne(Pools& p, const Resource& resource) {
  absl::StatusOr<std::optional<Held>> held = resources_internal::HeldBy(resource);
  if (!held.ok()) return held.status();
  if (!held->has_value()) return absl::OkStatus();  // held by no pool (a MAC address)
  const Held& h = **held;
  const InclusiveRange range{h.first, h.last};
  switch (h.pool) {
    case ResourcePool::kPio:
      return p.pio.Reserve(range);
    case ResourcePool::kMemory:
      return p.mem.Reserve(range);
    case ResourcePool::kMmio:
      for (IntervalAllocator& window : p.mmio) {
        if (window.IsFree(range)) return window.Reserve(range);
      }
      return absl::ResourceExhaustedError("it is not free in any window");
    case ResourcePool::kLegacyIrq:
      return p.legacy_irq.Allocate(static_cast<uint32_t>(h.first)).status();
    case ResourcePool::kMsi:
      return p.msi
          .AllocateBlock(static_cast<uint32_t>(h.last - h.first + 1), 1,
                         static_cast<uint32_t>(h.first))
          .status();
    case ResourcePool::kKvmMemSlot:
      return p.kvm_mem_slots.Allocate(static_cast<uint32_t>(h.first)).status();
  }
  return absl::InternalError("a resource of no pool");
}

absl::Status ResourceManager::FreeOne(Pools& p, const Resource& resource) {
  absl::StatusOr<std::optional<Held>> held = resources_internal::HeldBy(resource);
  if (!held.ok()) return absl::NotFoundError(held.status().message());
  if (!held->has_value()) return absl::OkStatus();
  const Held& h = **held;
  const InclusiveRange range{h.first, h.last};
  switch (h.pool) {
    case ResourcePool::kPio:
      return p.pio.Free(range);
    case ResourcePool::kMemory:
      return p.mem.Free(range);
    case ResourcePool::kMmio:
      for (IntervalAllocator& window : p.mmio) {
        if (window.IsAllocated(range)) return window.Free(range);
      }
      return absl::NotFoundError("it is not allocated");
    case ResourcePool::kLegacyIrq:
      return p.legacy_irq.Free(static_cast<uint32_t>(h.first));
    case ResourcePool::kMsi:
      return p.msi.FreeBlock(static_cast<uint32_t>(h.first),
                             static_cast<uint32_t>(h.last - h.first + 1));
    case ResourcePool::kKvmMemSlot:
      return p.kvm_mem_slots.Free(static_cast<uint32_t>(h.first));
  }
  return absl::InternalError("a resource of no pool");
}

void ResourceManager::UndoTakes(absl::Span<const Resource> taken) {
  // Undoing what this call just did cannot fail: the state it restores existed a moment
  // ago and nothing else ran in between (we hold the mutex).
  for (auto it = taken.rbegin(); it != taken.rend(); ++it) (void)FreeOne(pools_, *it);
}

void ResourceManager::UndoFrees(absl::Span<const FreedResource> freed) {
  for (auto it = freed.rbegin(); it != freed.rend(); ++it) {
    const auto* irq = std::get_if<LegacyIrq>(&it->resource);
    if (irq != nullptr && it->was_shared) {
      (void)pools_.legacy_irq.AllocateShared(irq->irq);
    } else {
      (void)ReserveOne(pools_, it->resource);
    }
  }
}

absl::Status ResourceManager::FreeDeviceResources(const DeviceResources& resources) {
  internal::MutexLock lock(&mu_);
  std::vector<FreedResource> freed;
  for (const Resource& resource : resources) {
    const auto* irq = std::get_if<LegacyIrq>(&resource);
    const bool was_shared = irq != nullptr && pools_.legacy_irq.ShareCount(irq->irq) > 0;
    absl::Status status = FreeOne(pools_, resource);
    if (!status.ok()) {
      UndoFrees(freed);
      return absl::Status(status.code(), absl::StrCat(ToString(resource), ": ", status.message()));
    }
    freed.push_back({resource, was_shared});
  }
  return absl::OkStatus();
}

absl::Status ResourceManager::ReserveResources(absl::Span<const Resource> resources) {
  return ReserveResources(resources, /*share_legacy_irq=*/false);
}

absl::Status ResourceManager::ReserveResources(absl::Span<const Resource> resources,
                                               bool share_legacy_irq) {
  internal::MutexLock lock(&mu_);
  std::vector<Resource> taken;
  for (const Resource& resource : resources) {
    const auto* irq = std::get_if<LegacyIrq>(&resource);
    absl::Status status = irq != nullptr && share_legacy_irq
                              ? pools_.legacy_irq.AllocateShared(irq->irq).status()
                              : ReserveOne(pools_, resource);
    if (!status.ok()) {
      UndoTakes(taken);
      return absl::Status(status.code(), absl::StrCat(ToString(resource), ": ", status.message()));
    }
    taken.push_back(resource);
  }
  return absl::OkStatus();
}

}  // namespace dbs
