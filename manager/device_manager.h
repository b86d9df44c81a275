// manager/device_manager.h — the whole flow: constraints, allocation, registration, removal.
//
// A Device is a DeviceIo that also says what it needs (GetResourceConstraints) and accepts
// what it was given (SetResources). DeviceManager composes a ResourceManager and an
// IoManager:
//
//   AddDevice(device):  constraints -> ResourceManager::AllocateDeviceResources
//                       -> device->SetResources -> IoManager registration of the device's
//                       trapped PIO/MMIO ranges. All or nothing: a failure at registration
//                       gives the resources back, and the device is not kept.
//   RemoveDevice(id):   unregister -> IoManager::Synchronize -> free the resources. When it
//                       returns the device is never called again.
//
// The ranges registered are the device's GetTrappedIoResources() after SetResources; when
// that is empty (a device that does not report its resources), all the PIO/MMIO ranges
// allocated for it.
//
// DEVICE CODE AND LOCKS. The hooks (name, GetResourceConstraints, SetResources,
// GetTrappedIoResources) are called with no lock of the library held, so they may call
// this manager; if one throws, what was allocated or registered for the device is given
// back before the exception leaves AddDevice, and nothing is kept. A device's destructor
// runs where IoManager says (manager/io_manager.h, "WHERE DEVICES DIE"), or at the end of
// RemoveDevice on the calling thread, always with no lock held.
//
// Thread-safety: thread-safe. AddDevice never waits for readers and may be called from a
// device handler; RemoveDevice waits for a grace period, so from inside a dispatch it
// returns kFailedPrecondition and changes nothing. The manager's mutex is never held while
// waiting for readers, nor while device code runs.

#ifndef DBS_DEVICE_MANAGER_DEVICE_MANAGER_H_
#define DBS_DEVICE_MANAGER_DEVICE_MANAGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dbs_device/base/mutex.h"
#include "dbs_device/manager/device_io.h"
#include "dbs_device/manager/io_manager.h"
#include "dbs_device/resources/resource_manager.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

// A device the DeviceManager can place: a DeviceIo with a name, constraints and resources.
class Device : public DeviceIo {
 public:
  // A short name for logs and messages.
  virtual std::string name() const { return "device"; }
  // What the device needs; allocated in this order.
  virtual std::vector<ResourceConstraint> GetResourceConstraints() const { return {}; }
  // Receives what was allocated, before any range is registered. The default keeps it for
  // GetAssignedResources.
  virtual void SetResources(const DeviceResources& resources);

  DeviceResources GetAssignedResources() const override;

 private:
  mutable internal::Mutex mu_;
  DeviceResources resources_ ABSL_GUARDED_BY(mu_);
};

// Identifies a device added to a DeviceManager; never reused by that manager.
using DeviceId = uint64_t;

class DeviceManager {
 public:
  // Both must outlive the DeviceManager.
  DeviceManager(ResourceManager& resources, IoManager& io);
  DeviceManager(ResourceManager* resources, IoManager* io) : DeviceManager(*resources, *io) {}
  DeviceManager(const DeviceManager&) = delete;
  DeviceManager& operator=(const DeviceManager&) = delete;

  // Allocates, configures and registers `device`. On error nothing is kept or allocated.
  [[nodiscard]] absl::StatusOr<DeviceId> AddDevice(std::shared_ptr<Device> device)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Unregisters `id`, waits until no dispatch can still reach it, frees its resources.
  // kNotFound for an unknown id; kFailedPrecondition from inside a dispatch.
  [[nodiscard]] absl::Status RemoveDevice(DeviceId id) ABSL_LOCKS_EXCLUDED(mu_);

  // The device added as `id`, or null.
  std::shared_ptr<Device> GetDevice(DeviceId id) const ABSL_LOCKS_EXCLUDED(mu_);
  // The resources allocated for `id`; kNotFound for an unknown id.
  absl::StatusOr<DeviceResources> GetResources(DeviceId id) const ABSL_LOCKS_EXCLUDED(mu_);
  // The ids of the devices present, ascending.
  std::vector<DeviceId> DeviceIds() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t device_count() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Placed {
    std::shared_ptr<Device> device;
    DeviceResources allocated;
    DeviceResources registered;  // the PIO/MMIO ranges given to the IoManager
  };

  ResourceManager& resources_;
  IoManager& io_;
  mutable internal::Mutex mu_;
  absl::btree_map<DeviceId, Placed> devices_ ABSL_GUARDED_BY(mu_);
  DeviceId next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace dbs

#endif  // DBS_DEVICE_MANAGER_DEVICE_MANAGER_H_
