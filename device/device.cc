#include "dbs_device/device/device.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace dbs {

void Device::SetResources(const DeviceResources& resources) {
  internal::MutexLock lock(&mu_);
  resources_ = resources;
}

absl::StatusOr<SavedState> Device::SaveState() const {
  return absl::UnimplementedError(absl::StrCat(name(), " cannot be saved in a snapshot"));
}

DeviceResources Device::GetAssignedResources() const {
  internal::MutexLock lock(&mu_);
  return resources_;
}

}  // namespace dbs
