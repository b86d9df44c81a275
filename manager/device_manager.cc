#include "dbs_device/manager/device_manager.h"

#include <utility>

#include "absl/cleanup/cleanup.h"
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
  // The device's hooks run with no lock of ours held: they may call this manager, and if
  // one throws, the cleanups below give back what was taken before the exception leaves.
  const std::string prefix = absl::StrCat("adding ", device->name(), ": ");
  const std::vector<ResourceConstraint> constraints = device->GetResourceConstraints();
  absl::StatusOr<DeviceResources> allocated = resources_.AllocateDeviceResources(constraints);
  if (!allocated.ok()) return Prefixed(allocated.status(), prefix);
  auto give_back = absl::MakeCleanup([&] { (void)resources_.FreeDeviceResources(*allocated); });
  device->SetResources(*allocated);
  DeviceResources registered = IoRangesOf(device->GetTrappedIoResources());
  if (registered.empty()) registered = IoRangesOf(*allocated);
  if (absl::Status status = io_.RegisterDeviceIo(device, registered); !status.ok()) {
    return Prefixed(status, prefix);
  }
  auto unregister = absl::MakeCleanup([&] { (void)io_.UnregisterDeviceIo(registered); });
  Placed placed{std::move(device), *allocated, std::move(registered)};
  DeviceId id;
  {
    internal::MutexLock lock(&mu_);
    id = next_id_++;
    devices_.emplace(id, std::move(placed));
  }
  std::move(unregister).Cancel();
  std::move(give_back).Cancel();
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
    placed = std::move(it->second);
    devices_.erase(it);
  }
  // Without the mutex: unregistering may reclaim (and so destroy) other devices, whose
  // destructors may call this manager, and a handler may call AddDevice while we wait.
  if (absl::Status status = io_.UnregisterDeviceIo(placed.registered); !status.ok()) {
    // Someone unregistered its ranges behind our back: the device stays as it was.
    internal::MutexLock lock(&mu_);
    devices_.emplace(id, std::move(placed));
    return status;
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

}  // namespace dbs
