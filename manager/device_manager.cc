#include "dbs_device/manager/device_manager.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "dbs_device/bus/bus_range.h"

namespace dbs {

namespace {

// Only the PIO and MMIO ranges of `resources`.
DeviceResources IoRangesOf(const DeviceResources& resources) {
  DeviceResources ranges;
  for (const Resource& r : resources) {
    if (std::holds_alternative<PioRange>(r) || std::holds_alternative<MmioRange>(r)) {
      ranges.Append(r);
    }
  }
  return ranges;
}

absl::Status Prefixed(const absl::Status& status, const std::string& prefix) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

bool AsksForSharedIrq(const std::vector<ResourceConstraint>& constraints) {
  for (const ResourceConstraint& c : constraints) {
    if (const auto* irq = std::get_if<LegacyIrqConstraint>(&c); irq != nullptr && irq->shared) {
      return true;
    }
  }
  return false;
}

// What the constraints that name a place ask for (a PIO or MMIO window, a given IRQ), as
// resources, so that a refusal can say who holds them.
std::vector<Resource> ExactResourcesOf(const std::vector<ResourceConstraint>& constraints) {
  std::vector<Resource> wanted;
  for (const ResourceConstraint& c : constraints) {
    if (const auto* pio = std::get_if<PioConstraint>(&c); pio != nullptr && pio->range) {
      const uint16_t min = pio->range->min.raw_value(), max = pio->range->max.raw_value();
      if (min <= max) wanted.push_back(PioRange{min, static_cast<uint16_t>(max - min + 1)});
    } else if (const auto* mmio = std::get_if<MmioConstraint>(&c); mmio != nullptr && mmio->range) {
      const uint64_t min = mmio->range->min.raw_value(), max = mmio->range->max.raw_value();
      if (min <= max && max - min < ~uint64_t{0}) wanted.push_back(MmioRange{min, max - min + 1});
    } else if (const auto* irq = std::get_if<LegacyIrqConstraint>(&c); irq != nullptr && irq->irq) {
      wanted.push_back(LegacyIrq{*irq->irq});
    }
  }
  return wanted;
}

std::string Describe(DeviceId id, absl::string_view name) {
  return absl::StrCat("device ", id, " (", name, ")");
}

std::string Join(const DeviceResources& resources) {
  std::string out;
  for (const Resource& r : resources) absl::StrAppend(&out, out.empty() ? "" : ", ", ToString(r));
  return out.empty() ? "nothing" : out;
}

}  // namespace

DeviceManager::DeviceManager(ResourceManager& resources, IoManager& io)
    : resources_(resources), io_(io) {}

DeviceManager::~DeviceManager() {
  absl::btree_map<DeviceId, Placed> placed;
  {
    internal::MutexLock lock(&mu_);
    placed.swap(devices_);
  }
  if (placed.empty()) return;
  // One publication for every range; if someone unregistered a range behind our back,
  // each device's ranges go on their own and what is no longer registered is skipped.
  IoManager::Transaction tx = io_.Begin();
  for (const auto& [id, device] : placed) (void)tx.Unregister(device.registered);
  if (!tx.Commit().ok()) {
    for (const auto& [id, device] : placed) (void)io_.UnregisterDeviceIo(device.registered);
  }
  // Inside a dispatch the wait would be for itself: the resources are freed at once, and
  // the devices die when the IoManager's generations naming them are reclaimed.
  if (!ReadSection::InSection()) (void)io_.Synchronize();
  for (const auto& [id, device] : placed) (void)resources_.FreeDeviceResources(device.allocated);
  // `placed` goes here, with no lock held.
}

absl::StatusOr<DeviceId> DeviceManager::AddDevice(std::shared_ptr<Device> device) {
  if (device == nullptr) return absl::InvalidArgumentError("cannot add a null device");
  // The device's hooks run with no lock of ours held: they may call this manager, and if
  // one throws, the cleanups below give back what was taken before the exception leaves.
  const std::string prefix = absl::StrCat("adding ", device->name(), ": ");
  const std::vector<ResourceConstraint> constraints = device->GetResourceConstraints();
  absl::StatusOr<DeviceResources> allocated = resources_.AllocateDeviceResources(constraints);
  if (!allocated.ok()) {
    absl::Status status = Prefixed(allocated.status(), prefix);
    if (status.code() != absl::StatusCode::kResourceExhausted) return status;
    return absl::Status(status.code(),
                        absl::StrCat(status.message(), HoldersOf(ExactResourcesOf(constraints))));
  }
  auto give_back = absl::MakeCleanup([&] { (void)resources_.FreeDeviceResources(*allocated); });
  device->SetResources(*allocated);
  DeviceResources registered = IoRangesOf(device->GetTrappedIoResources());
  if (registered.empty()) registered = IoRangesOf(*allocated);
  if (absl::Status status = io_.RegisterDeviceIo(device, registered); !status.ok()) {
    return Prefixed(status, prefix);
  }
  auto unregister = absl::MakeCleanup([&] { (void)io_.UnregisterDeviceIo(registered); });
  // `registered` and `*allocated` are copied, not moved: until the cleanups are cancelled
  // they must still name what to give back.
  Placed placed{std::move(device), *allocated, registered, AsksForSharedIrq(constraints)};
  DeviceId id;
  {
    internal::MutexLock lock(&mu_);
    if (restoring_) {
      return absl::UnavailableError(absl::StrCat(prefix, "the manager is being restored"));
    }
    id = next_id_++;
    devices_.emplace(id, std::move(placed));
  }
  std::move(unregister).Cancel();
  std::move(give_back).Cancel();
  return id;
}

namespace {

// The PIO/MMIO range `resource` moved to `new_base`; nullopt for other kinds.
std::optional<Resource> MovedTo(const Resource& resource, uint64_t new_base) {
  if (const auto* pio = std::get_if<PioRange>(&resource)) {
    if (new_base > 0xffff) return std::nullopt;
    return PioRange{static_cast<uint16_t>(new_base), pio->size};
  }
  if (const auto* mmio = std::get_if<MmioRange>(&resource)) return MmioRange{new_base, mmio->size};
  return std::nullopt;
}

bool SharesAnAddress(const Resource& a, const Resource& b) {
  const std::optional<BusRange> x = ToBusRange(a), y = ToBusRange(b);
  if (x.has_value() && y.has_value()) {
    return x->space == y->space && x->base <= y->last() && y->base <= x->last();
  }
  if (const auto* irq = std::get_if<LegacyIrq>(&a)) {
    const auto* other = std::get_if<LegacyIrq>(&b);
    return other != nullptr && other->irq == irq->irq;
  }
  return false;
}

// `resources` with `from` replaced by `to`.
DeviceResources Replaced(const DeviceResources& resources, const Resource& from,
                         const Resource& to) {
  DeviceResources out;
  for (const Resource& r : resources) out.Append(r == from ? to : r);
  return out;
}

}  // namespace

std::string DeviceManager::HoldersOf(absl::Span<const Resource> wanted) const {
  struct Holder {
    DeviceId id;
    std::shared_ptr<Device> device;
    Resource held;
  };
  std::vector<Holder> holders;
  {
    internal::MutexLock lock(&mu_);
    for (const auto& [id, placed] : devices_) {
      for (const Resource& held : placed.allocated) {
        if (std::any_of(wanted.begin(), wanted.end(),
                        [&](const Resource& w) { return SharesAnAddress(held, w); })) {
          holders.push_back({id, placed.device, held});
        }
      }
    }
  }
  std::string out;  // names asked for with no lock held: device code
  for (const Holder& h : holders) {
    absl::StrAppend(&out, ", ", ToString(h.held), " held by ", Describe(h.id, h.device->name()));
  }
  return out;
}

absl::Status DeviceManager::MoveDeviceIo(DeviceId id, const Resource& from, uint64_t new_base) {
  const std::optional<Resource> to = MovedTo(from, new_base);
  if (!to.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot move ", ToString(from), " to ", absl::Hex(new_base, absl::kZeroPad4)));
  }
  bool allocated;
  {
    internal::MutexLock lock(&mu_);
    auto it = devices_.find(id);
    if (it == devices_.end()) return absl::NotFoundError(absl::StrCat("no device with id ", id));
    const DeviceResources& registered = it->second.registered;
    if (std::find(registered.begin(), registered.end(), from) == registered.end()) {
      return absl::NotFoundError(
          absl::StrCat("device ", id, " has no range registered exactly at ", ToString(from)));
    }
    const DeviceResources& held = it->second.allocated;
    allocated = std::find(held.begin(), held.end(), from) != held.end();
  }
  // Make before break: the new place is reserved, then the bus moves, then the old place
  // is given back; each step is undone if a later one fails.
  if (allocated) {
    if (absl::Status reserved = resources_.ReserveResources({*to}); !reserved.ok()) {
      return absl::Status(reserved.code(),
                          absl::StrCat("moving device ", id, "'s ", ToString(from), ": ",
                                       reserved.message(), HoldersOf({*to})));
    }
  }
  if (absl::Status moved = io_.MoveDeviceIo(from, new_base); !moved.ok()) {
    if (allocated) (void)resources_.FreeDeviceResources(DeviceResources({*to}));
    return absl::Status(moved.code(), absl::StrCat("moving device ", id, "'s ", ToString(from),
                                                   ": ", moved.message()));
  }
  std::shared_ptr<Device> device;
  DeviceResources now;
  {
    internal::MutexLock lock(&mu_);
    auto it = devices_.find(id);
    if (it != devices_.end()) {
      it->second.registered = Replaced(it->second.registered, from, *to);
      if (allocated) it->second.allocated = Replaced(it->second.allocated, from, *to);
      device = it->second.device;
      now = it->second.allocated;
    }
  }
  if (allocated) (void)resources_.FreeDeviceResources(DeviceResources({from}));
  if (device != nullptr) device->SetResources(now);  // device code: no lock held
  return absl::OkStatus();
}

absl::Status DeviceManager::RemoveDevice(DeviceId id) {
  if (ReadSection::InSection()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "RemoveDevice(", id, ") inside a dispatch would wait for itself; nothing was removed"));
  }
  Placed placed;
  {
    internal::MutexLock lock(&mu_);
    auto it = devices_.find(id);
    if (it == devices_.end()) return absl::NotFoundError(absl::StrCat("no device with id ", id));
    placed = std::move(it->second);
    devices_.erase(it);
  }
  // Without the mutex: unregistering may reclaim (and so destroy) other devices, whose
  // destructors may call this manager, and a handler may call AddDevice while we wait.
  if (absl::Status status = io_.UnregisterDeviceIo(placed.registered); !status.ok()) {
    // Someone changed its ranges on the IoManager behind our back: the device stays as it
    // was. Not kNotFound, which means an unknown id only.
    internal::MutexLock lock(&mu_);
    devices_.emplace(id, std::move(placed));
    return absl::FailedPreconditionError(
        absl::StrCat("RemoveDevice(", id,
                     "): its ranges were changed on the IoManager directly (move them "
                     "with DeviceManager::MoveDeviceIo); nothing was removed: ",
                     status.message()));
  }
  if (absl::Status status = io_.Synchronize(); !status.ok()) return status;
  return resources_.FreeDeviceResources(placed.allocated);
  // `placed` goes here, with no lock held: the device may be destroyed on this thread.
}

std::shared_ptr<Device> DeviceManager::GetDevice(DeviceId id) const {
  internal::MutexLock lock(&mu_);
  auto it = devices_.find(id);
  return it == devices_.end() ? nullptr : it->second.device;
}

absl::StatusOr<DeviceResources> DeviceManager::GetResources(DeviceId id) const {
  internal::MutexLock lock(&mu_);
  auto it = devices_.find(id);
  if (it == devices_.end()) return absl::NotFoundError(absl::StrCat("no device with id ", id));
  return it->second.allocated;
}

std::vector<DeviceId> DeviceManager::DeviceIds() const {
  internal::MutexLock lock(&mu_);
  std::vector<DeviceId> ids;
  for (const auto& [id, placed] : devices_) ids.push_back(id);
  return ids;
}

size_t DeviceManager::device_count() const {
  internal::MutexLock lock(&mu_);
  return devices_.size();
}

absl::Status DeviceFactory::Register(absl::string_view kind, Restorer restorer) {
  if (!restorers_.emplace(kind, std::move(restorer)).second) {
    return absl::AlreadyExistsError(absl::StrCat("a restorer for kind \"", kind, "\" exists"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Device>> DeviceFactory::Restore(const DeviceRecord& record) const {
  auto it = restorers_.find(record.kind);
  if (it == restorers_.end()) {
    return absl::NotFoundError(absl::StrCat("no restorer for kind \"", record.kind, "\""));
  }
  absl::StatusOr<std::shared_ptr<Device>> device = it->second(record);
  if (device.ok() && *device == nullptr) {
    return absl::InternalError(absl::StrCat("the restorer of \"", record.kind, "\" made nothing"));
  }
  return device;
}

absl::StatusOr<std::string> DeviceManager::Snapshot() const {
  DeviceManagerSnapshot snapshot;
  std::vector<std::shared_ptr<Device>> devices;
  {
    internal::MutexLock lock(&mu_);
    snapshot.next_id = next_id_;
    snapshot.devices.reserve(devices_.size());
    for (const auto& [id, p] : devices_) {
      snapshot.devices.push_back(
          DeviceRecord{id, {}, {}, {}, p.allocated, p.registered, p.shared_legacy_irq});
      devices.push_back(p.device);
    }
  }
  // The devices' code runs with no lock of ours held.
  std::string refused;
  for (size_t i = 0; i < devices.size(); ++i) {
    DeviceRecord& record = snapshot.devices[i];
    record.name = devices[i]->name();
    absl::StatusOr<SavedState> saved = devices[i]->SaveState();
    if (!saved.ok()) {
      absl::StrAppend(&refused, refused.empty() ? "" : "; ", Describe(record.id, record.name), ": ",
                      saved.status().message());
      continue;
    }
    record.kind = std::move(saved->kind);
    record.state = std::move(saved->state);
  }
  if (!refused.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot snapshot: ", refused));
  }
  return EncodeDeviceManagerSnapshot(snapshot);
}

absl::Status DeviceManager::Restore(absl::string_view bytes, const DeviceFactory& factory) {
  absl::StatusOr<DeviceManagerSnapshot> snapshot = DecodeDeviceManagerSnapshot(bytes);
  if (!snapshot.ok()) return snapshot.status();
  {
    internal::MutexLock lock(&mu_);
    if (restoring_ || !devices_.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "restore needs an empty DeviceManager; this one ",
          restoring_ ? "is being restored" : absl::StrCat("holds ", devices_.size(), " devices")));
    }
    restoring_ = true;
  }
  auto done = absl::MakeCleanup([&] {
    internal::MutexLock lock(&mu_);
    restoring_ = false;
  });

  // Exactly the recorded resources, all or nothing.
  const std::vector<DeviceRecord>& records = snapshot->devices;
  size_t reserved = 0;
  auto unreserve = absl::MakeCleanup([&] {
    while (reserved > 0) (void)resources_.FreeDeviceResources(records[--reserved].allocated);
  });
  for (; reserved < records.size(); ++reserved) {
    const DeviceRecord& d = records[reserved];
    if (absl::Status s = resources_.ReserveResources(d.allocated, d.shared_legacy_irq); !s.ok()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          Describe(d.id, d.name), ": the resource pools cannot give it exactly: ", s.message()));
    }
  }

  // The devices, made and configured with no lock held; nobody else can reach them yet,
  // and they signal nothing before Resume.
  std::vector<Placed> placed;
  placed.reserve(records.size());
  for (const DeviceRecord& d : records) {
    absl::StatusOr<std::shared_ptr<Device>> device = factory.Restore(d);
    if (!device.ok()) return Prefixed(device.status(), Describe(d.id, d.name) + ": ");
    (*device)->SetResources(d.allocated);
    DeviceResources traps = IoRangesOf((*device)->GetTrappedIoResources());
    if (traps.empty()) traps = IoRangesOf(d.allocated);
    if (!(traps == d.registered)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Describe(d.id, d.name), ": the restored device traps ", Join(traps),
                       "; the snapshot registered ", Join(d.registered)));
    }
    placed.push_back(Placed{*std::move(device), d.allocated, d.registered, d.shared_legacy_irq});
  }

  // Every range in one publication.
  IoManager::Transaction tx = io_.Begin();
  for (size_t i = 0; i < placed.size(); ++i) {
    if (absl::Status s = tx.Register(placed[i].device, placed[i].registered); !s.ok()) {
      return Prefixed(s, Describe(records[i].id, records[i].name) + ": ");
    }
  }
  if (absl::Status s = tx.Commit(); !s.ok()) return Prefixed(s, "registering the snapshot: ");
  std::move(unreserve).Cancel();

  std::vector<std::shared_ptr<Device>> restored;
  restored.reserve(placed.size());
  {
    internal::MutexLock lock(&mu_);
    for (size_t i = 0; i < placed.size(); ++i) {
      restored.push_back(placed[i].device);
      devices_.emplace(records[i].id, std::move(placed[i]));
    }
    next_id_ = std::max(next_id_, snapshot->next_id);
    restoring_ = false;
  }
  for (const std::shared_ptr<Device>& device : restored) device->Resume();
  return absl::OkStatus();
}

}  // namespace dbs
