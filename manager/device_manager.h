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
// SNAPSHOT AND RESTORE. Snapshot() saves every placed device: its id, name, kind, the
// resources allocated for it, the ranges registered for it and its state (Device::SaveState),
// as bytes in the format of manager/snapshot.h. Restore(bytes, factory) rebuilds that
// placement in a fresh DeviceManager (over a fresh or compatible ResourceManager and
// IoManager): the same ids, exactly the same resources (reserved, not allocated anew), the
// same ranges registered in one IoManager publication, each device made by the factory
// from its kind and state, then told to Resume. Restore checks everything before it
// changes anything; on error the three managers are as they were, and no device it made
// has signalled anything:
//
//   kDataLoss           truncated bytes, trailing bytes, a checksum that does not match
//   kUnimplemented      a format version this reader does not know
//   kInvalidArgument    not a snapshot; a payload or device state that does not parse; a
//                       resource of unknown kind or out of its space; a registered range
//                       outside its device's resources, or not what the restored device
//                       traps; bad ids
//   kAlreadyExists      two devices of the snapshot holding the same resource; a range
//                       the target IoManager already has registered
//   kNotFound           a device kind the factory does not know
//   kResourceExhausted  resources the target ResourceManager cannot give exactly
//   kFailedPrecondition this manager already holds devices, or is being restored
//
// Take the snapshot with the vCPUs paused (as every VMM does): each device's state is read
// under that device's own lock, one device after another.
//
// Thread-safety: thread-safe. AddDevice never waits for readers and may be called from a
// device handler; RemoveDevice waits for a grace period, so from inside a dispatch it
// returns kFailedPrecondition and changes nothing. The manager's mutex is never held while
// waiting for readers, nor while device code runs.

#ifndef DBS_DEVICE_MANAGER_DEVICE_MANAGER_H_
#define DBS_DEVICE_MANAGER_DEVICE_MANAGER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dbs_device/base/mutex.h"
#include "dbs_device/device/device.h"
#include "dbs_device/manager/io_manager.h"
#include "dbs_device/manager/snapshot.h"
#include "dbs_device/resources/resource_manager.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

// Makes devices from their snapshot records, by kind, for DeviceManager::Restore. Each
// restorer builds the device from the record's state (and the outside world it captured:
// output callbacks, interrupt lines, clocks); managed_device.h's RestoreManaged<T> makes
// one for a ManagedDevice.
//
// Thread-safety: Register is not thread-safe; Restore may be called concurrently.
class DeviceFactory {
 public:
  using Restorer = std::function<absl::StatusOr<std::shared_ptr<Device>>(const DeviceRecord&)>;

  // kAlreadyExists if `kind` has a restorer already.
  absl::Status Register(absl::string_view kind, Restorer restorer);
  // The device `record` describes; kNotFound for a kind with no restorer, and the
  // restorer's own error (e.g. a state that does not decode) otherwise.
  absl::StatusOr<std::shared_ptr<Device>> Restore(const DeviceRecord& record) const;

 private:
  absl::flat_hash_map<std::string, Restorer> restorers_;
};

class DeviceManager {
 public:
  // Both must outlive the DeviceManager.
  DeviceManager(ResourceManager& resources, IoManager& io);
  DeviceManager(ResourceManager* resources, IoManager* io) : DeviceManager(*resources, *io) {}
  // Removes every device it placed: their ranges leave the IoManager in one publication,
  // then (outside a dispatch) a grace period, then their resources go back.
  ~DeviceManager();
  DeviceManager(const DeviceManager&) = delete;
  DeviceManager& operator=(const DeviceManager&) = delete;

  // Allocates, configures and registers `device`. On error nothing is kept or allocated;
  // kUnavailable while a Restore of this manager is under way.
  [[nodiscard]] absl::StatusOr<DeviceId> AddDevice(std::shared_ptr<Device> device)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A device model that is not a Device: says which wrapper makes it one.
  template <typename T>
  requires(!std::is_convertible_v<T*, Device*>) absl::StatusOr<DeviceId> AddDevice(
      std::shared_ptr<T>) {
    static_assert(std::is_convertible_v<T*, Device*>,
                  "AddDevice takes a Device: wrap a device model in ManagedDevice<T> "
                  "(manager/managed_device.h), e.g. MakeManaged<T>(args...)");
    return absl::InternalError("unreachable");
  }

  // Unregisters `id`, waits until no dispatch can still reach it, frees its resources.
  // kNotFound for an unknown id, and only then; kFailedPrecondition from inside a dispatch,
  // or when its ranges were changed on the IoManager directly (nothing is removed).
  [[nodiscard]] absl::Status RemoveDevice(DeviceId id) ABSL_LOCKS_EXCLUDED(mu_);

  // Moves the PIO/MMIO range `from` of device `id` to `new_base` (a BAR the guest
  // reprogrammed), as one change seen by everything that knows the range: the bus (every
  // dispatch finds the device at exactly one of the two places), the allocator's
  // reservation, the resources GetResources and Snapshot report and the device's own
  // (SetResources is called with them, with no lock held). All or nothing. kNotFound for an
  // unknown id (message "no device with id N") or a range the device does not have
  // registered exactly; kInvalidArgument for a resource that is no PIO/MMIO range or a
  // place past its space's end; kAlreadyExists or kResourceExhausted if the new place is
  // taken (the holder named when it is a device of this manager).
  [[nodiscard]] absl::Status MoveDeviceIo(DeviceId id, const Resource& from, uint64_t new_base)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The device added as `id`, or null.
  std::shared_ptr<Device> GetDevice(DeviceId id) const ABSL_LOCKS_EXCLUDED(mu_);
  // The resources allocated for `id`; kNotFound for an unknown id.
  absl::StatusOr<DeviceResources> GetResources(DeviceId id) const ABSL_LOCKS_EXCLUDED(mu_);
  // The ids of the devices present, ascending.
  std::vector<DeviceId> DeviceIds() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t device_count() const ABSL_LOCKS_EXCLUDED(mu_);

  // Every placed device as bytes (see SNAPSHOT AND RESTORE); kFailedPrecondition naming
  // every device that cannot be saved.
  [[nodiscard]] absl::StatusOr<std::string> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);
  // The devices of `snapshot`, placed as they were; this manager must hold none. Never
  // waits for readers, so it may run anywhere, with vCPUs running or not.
  [[nodiscard]] absl::Status Restore(absl::string_view snapshot, const DeviceFactory& factory)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Placed {
    std::shared_ptr<Device> device;
    DeviceResources allocated;
    DeviceResources registered;  // the PIO/MMIO ranges given to the IoManager
    bool shared_legacy_irq = false;
  };

  // ", held by device N (name)" for each placed device holding a resource that `wanted`
  // (constraints, or resources) asks for exactly; "" if none.
  std::string HoldersOf(absl::Span<const Resource> wanted) const ABSL_LOCKS_EXCLUDED(mu_);

  ResourceManager& resources_;
  IoManager& io_;
  mutable internal::Mutex mu_;
  absl::btree_map<DeviceId, Placed> devices_ ABSL_GUARDED_BY(mu_);
  DeviceId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool restoring_ ABSL_GUARDED_BY(mu_) = false;  // AddDevice refuses while set
};

}  // namespace dbs

#endif  // DBS_DEVICE_MANAGER_DEVICE_MANAGER_H_
