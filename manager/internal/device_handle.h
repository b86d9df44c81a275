// manager/internal/device_handle.h — what IoManager's bus maps each range to, and the two
// projections the bus keeps of it in its leaves. Internal to manager/io_manager.h.

#ifndef DBS_DEVICE_MANAGER_INTERNAL_DEVICE_HANDLE_H_
#define DBS_DEVICE_MANAGER_INTERNAL_DEVICE_HANDLE_H_

#include <cstdint>
#include <memory>

#include "dbs_device/bus/io_bus.h"
#include "dbs_device/device/device_io.h"

namespace dbs::manager_internal {

// The owning pointer, and the device's counter id (manager/internal/dispatch_stats.h).
struct DeviceHandle {
  std::shared_ptr<DeviceIo> device;
  uint32_t counter_id;
};

// What every dispatch needs, copied into the leaf beside the range: the device.
struct DeviceOfHandle {
  DeviceIo* operator()(const DeviceHandle& handle) const { return handle.device.get(); }
};

// What only a counted dispatch needs, in an array of its own: the counter id.
struct CounterOfHandle {
  uint32_t operator()(const DeviceHandle& handle) const { return handle.counter_id; }
};

using DeviceBus = IoBus<DeviceHandle, DeviceOfHandle, CounterOfHandle>;

}  // namespace dbs::manager_internal

#endif  // DBS_DEVICE_MANAGER_INTERNAL_DEVICE_HANDLE_H_
