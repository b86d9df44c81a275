// manager/device_model.h — the three managers a VMM needs, owned together and torn down in
// the right order: where a program starts.
//
//   dbs::DeviceModel model;                                     // an x86 PC's pools
//   absl::StatusOr<dbs::DeviceId> uart = model.devices().AddDevice(
//       dbs::MakeManagedDevice<dbs::Serial16550>(...));
//   absl::Status s = model.io().PioWrite(0x3f8, bytes);         // on a vCPU thread
//
// A DeviceModel owns a ResourceManager (the pools), an IoManager (the bus) and a
// DeviceManager over both. Destroying it removes the placed devices first (their ranges
// leave the bus in one publication, then their resources go back), then the IoManager
// (which retires whatever else is registered), then the pools. It adds nothing of its own:
// each manager's header states its contract.
//
// Thread-safety: as each manager's; the accessors are thread-safe.

#ifndef DBS_DEVICE_MANAGER_DEVICE_MODEL_H_
#define DBS_DEVICE_MANAGER_DEVICE_MODEL_H_

#include "dbs_device/bus/rcu.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/io_manager.h"
#include "dbs_device/resources/resource_manager.h"

namespace dbs {

struct DeviceModelOptions {
  ResourceManagerConfig resources = ResourceManager::X86DefaultConfig();
  IoManagerOptions io;
};

class DeviceModel {
 public:
  // An x86 PC's pools (ResourceManager::X86Defaults), the process-wide RCU domain.
  DeviceModel() : DeviceModel(DeviceModelOptions{}) {}
  explicit DeviceModel(const DeviceModelOptions& options, RcuDomain& domain = RcuDomain::Default())
      : resources_(options.resources), io_(domain, options.io), devices_(resources_, io_) {}
  DeviceModel(const DeviceModel&) = delete;
  DeviceModel& operator=(const DeviceModel&) = delete;

  ResourceManager& resources() { return resources_; }
  IoManager& io() { return io_; }
  DeviceManager& devices() { return devices_; }
  const ResourceManager& resources() const { return resources_; }
  const IoManager& io() const { return io_; }
  const DeviceManager& devices() const { return devices_; }

 private:
  // Destroyed in reverse: the devices, then the bus, then the pools.
  ResourceManager resources_;
  IoManager io_;
  DeviceManager devices_;
};

}  // namespace dbs

#endif  // DBS_DEVICE_MANAGER_DEVICE_MODEL_H_
