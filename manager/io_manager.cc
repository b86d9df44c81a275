#include "dbs_device/manager/io_manager.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "dbs_device/device/device.h"

namespace dbs {
namespace {

DeviceStats ToDeviceStats(const manager_internal::CountTotals& counts) {
  DeviceStats stats;
  stats.reads = counts.reads;
  stats.writes = counts.writes;
  stats.bytes_read = counts.bytes_read;
  stats.bytes_written = counts.bytes_written;
  for (int code = 0; code < manager_internal::kStatusCodes; ++code) {
    if (counts.errors[code] != 0)
      stats.errors[static_cast<absl::StatusCode>(code)] = counts.errors[code];
  }
  return stats;
}

// A PIO/MMIO resource and its bus range.
struct IoRange {
  const Resource* resource;
  BusRange range;
};

// The PIO/MMIO ranges of `resources`, each valid on its own.
absl::StatusOr<std::vector<IoRange>> IoRangesOf(absl::Span<const Resource> resources) {
  std::vector<IoRange> ranges;
  for (const Resource& resource : resources) {
    std::optional<BusRange> range = ToBusRange(resource);
    if (!range.has_value()) continue;
    if (absl::Status valid = ValidateBusRange(*range); !valid.ok()) return valid;
    ranges.push_back({&resource, *range});
  }
  return ranges;
}

// kInvalidArgument if `options` cannot apply to `range`: malformed rules, or rules whose
// implemented size does not divide the range (a widened access would leave it).
absl::Status CheckRangeOptions(const IoRange& range, const RangeOptions& options) {
  const AccessRules& rules = options.rules;
  if (absl::Status valid = rules.Validate(); !valid.ok()) {
    return absl::Status(valid.code(),
                        absl::StrCat(ToString(*range.resource), ": ", valid.message()));
  }
  if (!rules.is_default() && range.range.size % rules.impl_min_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToString(*range.resource), ": a range with access rules must be a multiple of ",
        rules.impl_min_size, " bytes (impl_min_size) long"));
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<BusRange> ToBusRange(const Resource& resource) {
  if (const auto* pio = std::get_if<PioRange>(&resource)) {
    return BusRange{AddressSpace::kPio, pio->base.raw_value(), pio->size.raw_value()};
  }
  if (const auto* mmio = std::get_if<MmioRange>(&resource)) {
    return BusRange{AddressSpace::kMmio, mmio->base.raw_value(), mmio->size.raw_value()};
  }
  return std::nullopt;
}

// --- Transaction ---------------------------------------------------------------------------

IoManager::Transaction::Transaction(Transaction&& other) noexcept
    : manager_(other.manager_),
      done_(std::exchange(other.done_, true)),
      changes_(std::exchange(other.changes_, 0)),
      bus_changes_(std::exchange(other.bus_changes_, {})) {}

IoManager::Transaction& IoManager::Transaction::operator=(Transaction&& other) noexcept {
  if (this != &other) {
    manager_ = other.manager_;
    done_ = std::exchange(other.done_, true);
    changes_ = std::exchange(other.changes_, 0);
    bus_changes_ = std::exchange(other.bus_changes_, {});
  }
  return *this;
}

absl::Status IoManager::Transaction::CheckOpen() const {
  if (done_)
    return absl::FailedPreconditionError("the transaction was already committed or cancelled");
  return absl::OkStatus();
}

absl::Status IoManager::Transaction::Register(std::shared_ptr<DeviceIo> device,
                                              absl::Span<const Resource> resources) {
  if (absl::Status open = CheckOpen(); !open.ok()) return open;
  if (device == nullptr) return absl::InvalidArgumentError("cannot register a null device");
  absl::StatusOr<std::vector<IoRange>> ranges = IoRangesOf(resources);
  if (!ranges.ok()) return ranges.status();
  if (ranges->empty()) return absl::OkStatus();
  // Each range's options, read now (with no lock held: the device's code) and checked
  // before anything is recorded.
  std::vector<RangeOptions> options(ranges->size());
  for (size_t i = 0; i < ranges->size(); ++i) {
    options[i] = device->GetRangeOptions(*(*ranges)[i].resource);
    if (absl::Status valid = CheckRangeOptions((*ranges)[i], options[i]); !valid.ok()) return valid;
  }
  for (size_t i = 0; i < ranges->size(); ++i) {
    bus_changes_.Register((*ranges)[i].range, {device, 0, options[i].rules}, options[i].priority);
  }
  ++changes_;
  return absl::OkStatus();
}

absl::Status IoManager::Transaction::Unregister(absl::Span<const Resource> resources) {
  if (absl::Status open = CheckOpen(); !open.ok()) return open;
  bool recorded = false;
  for (const Resource& resource : resources) {
    if (std::optional<BusRange> range = ToBusRange(resource)) {
      bus_changes_.Unregister(*range);
      recorded = true;
    }
  }
  changes_ += recorded;
  return absl::OkStatus();
}

absl::Status IoManager::Transaction::Move(const Resource& from, uint64_t new_base) {
  if (absl::Status open = CheckOpen(); !open.ok()) return open;
  std::optional<BusRange> range = ToBusRange(from);
  if (!range.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("only PIO and MMIO ranges can move, not ", ToString(from)));
  }
  bus_changes_.Move(*range, new_base);
  ++changes_;
  return absl::OkStatus();
}

absl::Status IoManager::Transaction::Commit() {
  if (absl::Status open = CheckOpen(); !open.ok()) return open;
  done_ = true;
  return manager_->CommitTransaction(*this);
}

void IoManager::Transaction::Cancel() {
  done_ = true;
  changes_ = 0;
  bus_changes_ = {};
}

// --- IoManager -----------------------------------------------------------------------------

IoManager::IoManager() : IoManager(RcuDomain::Default()) {}

IoManager::IoManager(Options options) : IoManager(RcuDomain::Default(), options) {}

IoManager::Transaction IoManager::Begin() { return Transaction(this); }

IoManager::IoManager(RcuDomain& domain, Options options)
    : bus_(domain),
      statistics_(options.statistics),
      unclaimed_read_fill_(options.unclaimed_read_fill),
      unclaimed_counter_(manager_internal::AllocateCounterId()) {}

IoManager::~IoManager() {
  // Every range goes, so that the devices are destroyed now, while this manager is still
  // whole (a device's destructor may call it), rather than at some later grace period.
  Bus::Transaction everything;
  std::vector<uint32_t> ids{unclaimed_counter_};
  {
    internal::MutexLock lock(&mu_);
    ReadSection section;
    const Bus::Generation& current = bus_.Current(section);
    for (AddressSpace space : {AddressSpace::kPio, AddressSpace::kMmio}) {
      current.ForEach(
          space, [&everything](const Bus::Entry& entry) { everything.Unregister(entry.range); });
    }
    for (const auto& [device, info] : devices_) ids.push_back(info.counter_id);
    devices_.clear();
  }
  (void)bus_.Apply(std::move(everything));
  auto release = [ids = std::move(ids)]() {
    for (uint32_t id : ids) manager_internal::ReleaseCounterId(id);
  };
  // After the grace period no dispatch is running (a precondition of destruction anyway):
  // the devices are destroyed and the ids can go back. Inside a read section both wait
  // for a later grace period instead.
  if (ReadSection::InSection() || !bus_.domain().Synchronize().ok()) {
    bus_.domain().Call(std::move(release));
  } else {
    release();
  }
}

uint32_t IoManager::CounterFor(const DeviceIo* device,
                               absl::flat_hash_map<const DeviceIo*, uint32_t>& fresh) {
  if (auto it = devices_.find(device); it != devices_.end()) return it->second.counter_id;
  auto [id, inserted] = fresh.try_emplace(device, 0);
  if (inserted) id->second = manager_internal::AllocateCounterId();
  return id->second;
}

absl::Status IoManager::CommitTransaction(Transaction& tx) {
  // Declared before the lock, so destroyed after it is released: the operations' device
  // references, the change's retirement (which may reclaim, and so destroy devices) and
  // the ids to release all run with no lock of ours held.
  Bus::Transaction changes = std::exchange(tx.bus_changes_, {});
  tx.changes_ = 0;
  Bus::Publication change;
  std::vector<uint32_t> released;
  if (changes.empty()) return absl::OkStatus();
  {
    internal::MutexLock lock(&mu_);
    absl::flat_hash_map<const DeviceIo*, uint32_t> fresh_counters;  // devices new to the bus
    bool ruled = false;
    auto finish = [&](manager_internal::DeviceHandle& handle) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      handle.counter_id = CounterFor(handle.device.get(), fresh_counters);  // mu_ is held
      ruled |= !handle.rules.is_default();
    };
    changes.ForEachValue(finish);
    // Before the publication's release store: a dispatch that finds the range sees the flag.
    if (ruled) ruled_ranges_.store(true, std::memory_order_relaxed);
    change = bus_.Publish(std::move(changes));
    if (!change.ok()) {
      // The fresh ids were never published: no dispatch can be counting into them.
      for (const auto& [device, id] : fresh_counters) manager_internal::ReleaseCounterId(id);
      return change.status();
    }
    // Ranges gained and lost per device, from what the bus says the change did: sorted by
    // device and summed (no map to allocate for the usual one or two entries).
    absl::InlinedVector<std::pair<const DeviceIo*, int64_t>, 4> deltas;
    for (const Bus::Entry* entry : change.inserted())
      deltas.push_back({entry->value.device.get(), 1});
    for (const Bus::Entry* entry : change.removed())
      deltas.push_back({entry->value.device.get(), -1});
    std::sort(deltas.begin(), deltas.end());
    for (size_t i = 0; i < deltas.size();) {
      const DeviceIo* device = deltas[i].first;
      int64_t change_in_ranges = 0;
      for (; i < deltas.size() && deltas[i].first == device; ++i)
        change_in_ranges += deltas[i].second;
      if (change_in_ranges == 0) continue;
      auto it = devices_.find(device);
      if (it == devices_.end()) {
        devices_.emplace(
            device, DeviceInfo{fresh_counters.at(device), static_cast<size_t>(change_in_ranges)});
        continue;
      }
      it->second.ranges =
          static_cast<size_t>(static_cast<int64_t>(it->second.ranges) + change_in_ranges);
      if (it->second.ranges == 0) {
        released.push_back(it->second.counter_id);
        devices_.erase(it);
      }
    }
    // Devices registered and unregistered within the transaction were never published.
    for (const auto& [device, id] : fresh_counters) {
      if (!devices_.contains(device)) manager_internal::ReleaseCounterId(id);
    }
  }
  change.Finish();
  if (!released.empty()) {
    // Dispatches that found the device before this change may still be counting.
    bus_.domain().Call([released = std::move(released)]() {
      for (uint32_t id : released) manager_internal::ReleaseCounterId(id);
    });
  }
  return absl::OkStatus();
}

absl::Status IoManager::RegisterDeviceIo(std::shared_ptr<DeviceIo> device,
                                         absl::Span<const Resource> resources) {
  Transaction tx = Begin();
  if (absl::Status status = tx.Register(std::move(device), resources); !status.ok()) return status;
  return tx.Commit();
}

absl::Status IoManager::UnregisterDeviceIo(absl::Span<const Resource> resources) {
  Transaction tx = Begin();
  if (absl::Status status = tx.Unregister(resources); !status.ok()) return status;
  return tx.Commit();
}

absl::Status IoManager::MoveDeviceIo(const Resource& from, uint64_t new_base) {
  Transaction tx = Begin();
  if (absl::Status status = tx.Move(from, new_base); !status.ok()) return status;
  return tx.Commit();
}

absl::Status IoManager::DispatchError(const Bus::Generation& generation, AddressSpace space,
                                      uint64_t address, size_t length) {
  const Bus::LookupResult hit = generation.Find(space, address, length);  // the same answer
  const absl::Status status = LookupError(hit.outcome, space, address, length,
                                          hit.entry != nullptr ? &hit.entry->range : nullptr);
  // An access that starts inside a device's range counts against that device.
  const uint32_t id = hit.outcome == LookupOutcome::kPastEnd ? *hit.tag : unclaimed_counter_;
  manager_internal::CountError(id, static_cast<int>(status.code()));
  return status;
}

namespace manager_internal {

absl::Status CheckAccessRules(const AccessRules& rules, AddressSpace space, uint64_t address,
                              size_t size) {
  const bool access_size = size == 1 || size == 2 || size == 4 || size == 8;
  if (!access_size || size < rules.min_size || size > rules.max_size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a %u-byte access at %s %#x: the device takes %u to %u bytes there", size,
                        AddressSpaceName(space), address, rules.min_size, rules.max_size));
  }
  if (!rules.unaligned && address % size != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a %u-byte access at %s %#x is not aligned to its size, which the "
                        "device requires there",
                        size, AddressSpaceName(space), address));
  }
  return absl::OkStatus();
}

}  // namespace manager_internal

namespace {

// One handler call of an access that the rules have accepted.
void CallHandler(DeviceIo& device, AddressSpace space, bool write, uint64_t base, uint64_t offset,
                 uint8_t* data, size_t size) {
  if (space == AddressSpace::kPio) {
    const PioAddress pio_base{static_cast<uint16_t>(base)};
    const PioAddress pio_offset{static_cast<uint16_t>(offset)};
    if (write) {
      device.PioWrite(pio_base, pio_offset, absl::MakeConstSpan(data, size));
    } else {
      device.PioRead(pio_base, pio_offset, absl::MakeSpan(data, size));
    }
  } else if (write) {
    device.Write(IoAddress{base}, IoAddress{offset}, absl::MakeConstSpan(data, size));
  } else {
    device.Read(IoAddress{base}, IoAddress{offset}, absl::MakeSpan(data, size));
  }
}

}  // namespace

absl::Status IoManager::DispatchByRules(const Bus::Entry& entry, AddressSpace space, bool write,
                                        uint64_t base, uint64_t offset, uint8_t* data,
                                        size_t size) {
  const AccessRules& rules = entry.value.rules;
  const uint32_t counter = entry.value.counter_id;
  DeviceIo& device = *entry.value.device;
  if (absl::Status refused = manager_internal::CheckAccessRules(rules, space, base + offset, size);
      !refused.ok()) {
    manager_internal::CountError(counter, static_cast<int>(refused.code()));
    if (!write) FillFailedRead(absl::MakeSpan(data, size));
    return refused;
  }
  if (statistics_) {
    if (write) {
      manager_internal::CountAccess<true>(counter, size);
    } else {
      manager_internal::CountAccess<false>(counter, size);
    }
  }
  if (size > rules.impl_max_size) {  // split, in ascending address order
    for (size_t at = 0; at < size; at += rules.impl_max_size) {
      CallHandler(device, space, write, base, offset + at, data + at, rules.impl_max_size);
    }
  } else if (size < rules.impl_min_size) {  // widened, inside the range
    const uint64_t aligned = offset & ~uint64_t{rules.impl_min_size - 1u};
    const size_t at = offset - aligned;
    uint8_t wide[8] = {};
    if (write) std::memcpy(wide + at, data, size);
    CallHandler(device, space, write, base, aligned, wide, rules.impl_min_size);
    if (!write) std::memcpy(data, wide + at, size);
  } else {
    CallHandler(device, space, write, base, offset, data, size);
  }
  return absl::OkStatus();
}

absl::Status IoManager::Synchronize() { return bus_.domain().Synchronize(); }

std::shared_ptr<DeviceIo> IoManager::FindDevice(AddressSpace space, uint64_t address) const {
  ReadSection section;
  const Bus::LookupResult hit = bus_.Current(section).Find(space, address, 1);
  return hit.ok() ? hit.entry->value.device : nullptr;
}

absl::StatusOr<DeviceStats> IoManager::GetDeviceStats(const DeviceIo* device) const {
  uint32_t id;
  {
    internal::MutexLock lock(&mu_);
    auto it = devices_.find(device);
    if (it == devices_.end()) return absl::NotFoundError("the device has no registered range");
    id = it->second.counter_id;
  }
  return ToDeviceStats(manager_internal::ReadCounterTotals(id));
}

DeviceStats IoManager::UnclaimedStats() const {
  return ToDeviceStats(manager_internal::ReadCounterTotals(unclaimed_counter_));
}

std::string IoManager::DescribeMap() const {
  std::string out;
  ReadSection section;
  const Bus::Generation& generation = bus_.Current(section);
  for (AddressSpace space : {AddressSpace::kPio, AddressSpace::kMmio}) {
    const bool pio = space == AddressSpace::kPio;
    absl::StrAppendFormat(&out, "%s, %u ranges\n", AddressSpaceName(space), generation.size(space));
    generation.ForEach(space, [&](const Bus::Entry& entry) {
      const auto* named = dynamic_cast<const Device*>(entry.value.device.get());
      const std::string name = named != nullptr ? named->name() : "unnamed";
      if (pio) {
        absl::StrAppendFormat(&out, "  [%#06x, %#06x] %s", entry.range.base, entry.range.last(),
                              name);
      } else {
        absl::StrAppendFormat(&out, "  [%#018x, %#018x] %s", entry.range.base, entry.range.last(),
                              name);
      }
      if (entry.priority != 0) absl::StrAppendFormat(&out, " priority %d", entry.priority);
      const AccessRules& rules = entry.value.rules;
      if (!rules.is_default()) {
        absl::StrAppendFormat(&out, " sizes %u-%u, implements %u-%u%s", rules.min_size,
                              rules.max_size, rules.impl_min_size, rules.impl_max_size,
                              rules.unaligned ? "" : ", aligned only");
      }
      out += '\n';
    });
  }
  return out;
}

size_t IoManager::range_count() const {
  ReadSection section;
  return bus_.Current(section).size();
}

size_t IoManager::device_count() const {
  internal::MutexLock lock(&mu_);
  return devices_.size();
}

}  // namespace dbs
