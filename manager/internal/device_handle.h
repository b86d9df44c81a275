// manager/internal/device_handle.h — what IoManager's bus maps each range to, and the two
// projections the bus keeps of it in its leaves. Internal to manager/io_manager.h.

#ifndef DBS_DEVICE_MANAGER_INTERNAL_DEVICE_HANDLE_H_
#define DBS_DEVICE_MANAGER_INTERNAL_DEVICE_HANDLE_H_

#include <cstdint>
#include <memory>

#include "dbs_device/bus/io_bus.h"
#include "dbs_device/device/access.h"
#include "dbs_device/device/device_io.h"

namespace dbs::manager_internal {

// The owning pointer, the device's counter id (manager/internal/dispatch_stats.h) and the
// range's access rules.
struct DeviceHandle {
  std::shared_ptr<DeviceIo> device;
  uint32_t counter_id;
  AccessRules rules;
};

// What every dispatch reads, in the leaf beside the range: the device, with its low bit set
// when the range has rules other than the default, so that only such ranges pay for them.
class HotDevice {
 public:
  HotDevice() = default;
  HotDevice(DeviceIo* device, bool has_rules)
      : bits_(reinterpret_cast<uintptr_t>(device) | uintptr_t{has_rules}) {}
  // The device, for a range known to have no rules (no mask on the dispatch path); a range
  // with rules is dispatched through its entry.
  DeviceIo& untagged() const { return *reinterpret_cast<DeviceIo*>(bits_); }
  bool has_rules() const { return (bits_ & 1) != 0; }

 private:
  static_assert(alignof(DeviceIo) >= 2, "the low bit of a device pointer is free");
  uintptr_t bits_ = 0;
};

struct DeviceOfHandle {
  HotDevice operator()(const DeviceHandle& handle) const {
    return HotDevice(handle.device.get(), !handle.rules.is_default());
  }
};

// What only a counted dispatch needs, in an array of its own: the counter id.
struct CounterOfHandle {
  uint32_t operator()(const DeviceHandle& handle) const { return handle.counter_id; }
};

using DeviceBus = IoBus<DeviceHandle, DeviceOfHandle, CounterOfHandle>;

}  // namespace dbs::manager_internal

#endif  // DBS_DEVICE_MANAGER_INTERNAL_DEVICE_HANDLE_H_
