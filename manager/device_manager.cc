#include "manager/device_manager.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace dbs {

void Device::SetResources(const DeviceResources& resources) {
  internal::MutexLock lock(&mu_);
  resources_ = resources;
}

DeviceResources Device::GetAssignedResources() const {
  internal::MutexLock lock(&mu_);
  return resources_;
}

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

}  // namespace

DeviceManager::DeviceManager(ResourceManager& resources, IoManager& io)
    : resources_(resources), io_(io) {}

absl::StatusOr<DeviceId> DeviceManager::AddDevice(std::shared_ptr<Device> device) {
  if (device == nullptr) return absl::InvalidArgumentError("cannot add a null device");
  const std::string prefix = absl::StrCat("adding ", device->name(), ": ");
  const std::vector<ResourceConstraint> constraints = device->GetResourceConstraints();
  internal::MutexLock lock(&mu_);
  absl::StatusOr<DeviceResources> allocated = resources_.AllocateDeviceResources(constraints);
  if (!allocated.ok()) return Prefixed(allocated.status(), prefix);
  device->SetResources(*allocated);
  DeviceResources registered = IoRangesOf(device->GetTrappedIoResources());
  if (registered.empty()) registered = IoRangesOf(*allocated);
  if (absl::Status status = io_.RegisterDeviceIo(device, registered); !status.ok()) {
    // Nothing else can have taken these resources since we allocated them.
    (void)resources_.FreeDeviceResources(*allocated);
    return Prefixed(status, prefix);
  }
  const DeviceId id = next_id_++;
  devices_.emplace(id, Placed{std::move(device), *std::move(allocated), std::move(registered)});
  return id;
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
    if (absl::Status status = io_.UnregisterDeviceIo(it->second.registered); !status.ok()) {
      return status;
    }
    placed = std::move(it->second);
    devices_.erase(it);
  }
  // Without the mutex: a handler may call AddDevice while we wait for it to return.
  if (absl::Status status = io_.Synchronize(); !status.ok()) return status;
  return resources_.FreeDeviceResources(placed.allocated);
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

}  // namespace dbs
