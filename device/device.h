// device/device.h — a device that DeviceManager (manager/device_manager.h) can place: a
// DeviceIo that also says what it needs, accepts what it was given, and can be saved.
//
// DeviceManager::AddDevice asks GetResourceConstraints, allocates, calls SetResources,
// then registers GetTrappedIoResources (after SetResources) with the IoManager; Snapshot
// calls SaveState, and Restore calls Resume on each device it made once it has succeeded.
// Where each of these hooks runs, and which locks are held then, is the table "Where
// device code runs" in docs/architecture.md.
//
// A DeviceIoMut becomes a Device through ManagedDevice<T> (manager/managed_device.h).
//
// Thread-safety: the defaults here are thread-safe; an override must be too.

#ifndef DBS_DEVICE_DEVICE_DEVICE_H_
#define DBS_DEVICE_DEVICE_DEVICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "dbs_device/base/mutex.h"
#include "dbs_device/device/device_io.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

// Identifies a device added to a DeviceManager; never reused by that manager.
using DeviceId = uint64_t;

// What a snapshot keeps of a device: its kind, the key a DeviceFactory restores it by, and
// its state as bytes.
struct SavedState {
  std::string kind;
  std::string state;
};

class Device : public DeviceIo {
 public:
  // A short name for logs and messages.
  virtual std::string name() const { return "device"; }
  // What the device needs; allocated in this order.
  virtual std::vector<ResourceConstraint> GetResourceConstraints() const { return {}; }
  // Receives what was allocated, before any range is registered. The default keeps it for
  // GetAssignedResources.
  virtual void SetResources(const DeviceResources& resources);
  // The device's kind and state, for DeviceManager::Snapshot. The default returns
  // kUnimplemented: the device cannot be saved, and a snapshot that meets it fails.
  virtual absl::StatusOr<SavedState> SaveState() const;
  // Called by DeviceManager::Restore once the restore has succeeded, on each device it
  // made: from here on the device may signal the outside world (raise again an interrupt
  // line that was high when it was saved). A restore that fails calls no Resume, so it
  // signals nothing. The default does nothing.
  virtual void Resume() {}

  DeviceResources GetAssignedResources() const override;

 private:
  mutable internal::Mutex mu_;
  DeviceResources resources_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICE_DEVICE_H_
