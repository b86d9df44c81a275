// device/device_io.h — the interfaces an emulated device implements.
//
// A device receives guest accesses to the ranges it was registered at as (range base,
// offset inside the range, data), never as an absolute address, so the same device works
// wherever its ranges are placed, and wherever a PCI BAR is moved.
//
// Two interfaces, as in the original crate:
// - DeviceIo: handlers called concurrently, from any number of vCPU threads at once. A
//   device that implements it does its own locking, or needs none.
// - DeviceIoMut: the same handlers, called one at a time. MutexDevice<T>
//   (device/mutex_device.h) wraps one in a mutex and makes it a DeviceIo, like the
//   original's `impl DeviceIo for Mutex<T>`.
//
// Defaults, as in the original: every handler does nothing (a read leaves `data` as the
// caller filled it); GetAssignedResources() is empty; GetTrappedIoResources() returns the
// assigned resources. GetRangeOptions() (priority, access rules: device/access.h) is
// RangeOptions{}; a handler reads which vCPU is accessing with CurrentAccess().
//
// Handlers run on the dispatching vCPU thread inside a read section: they must not block
// on anything a writer holds while it waits for a grace period. Where each hook and the
// destructor run, and which locks are held then, is the table "Where device code runs" in
// docs/architecture.md.
//
// Thread-safety: DeviceIo implementations must be thread-safe; DeviceIoMut ones need not be.

#ifndef DBS_DEVICE_DEVICE_DEVICE_IO_H_
#define DBS_DEVICE_DEVICE_DEVICE_IO_H_

#include <cstdint>

#include "absl/types/span.h"
#include "dbs_device/device/access.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

// A device whose handlers may be called concurrently.
class DeviceIo {
 public:
  virtual ~DeviceIo() = default;

  // An MMIO read of data.size() bytes at `base` + `offset`; fill `data`.
  virtual void Read(IoAddress /*base*/, IoAddress /*offset*/, absl::Span<uint8_t> /*data*/) {}
  // An MMIO write of `data` at `base` + `offset`.
  virtual void Write(IoAddress /*base*/, IoAddress /*offset*/, absl::Span<const uint8_t> /*data*/) {
  }
  // A port read of data.size() bytes at `base` + `offset`; fill `data`.
  virtual void PioRead(PioAddress /*base*/, PioAddress /*offset*/, absl::Span<uint8_t> /*data*/) {}
  // A port write of `data` at `base` + `offset`.
  virtual void PioWrite(PioAddress /*base*/, PioAddress /*offset*/,
                        absl::Span<const uint8_t> /*data*/) {}

  // The resources the device was given.
  virtual DeviceResources GetAssignedResources() const { return {}; }
  // The PIO/MMIO ranges whose accesses should reach the handlers; by default all assigned.
  virtual DeviceResources GetTrappedIoResources() const { return GetAssignedResources(); }
  // The priority and access rules of `range` (device/access.h); read once, when the range
  // is registered. By default priority 0 and rules that accept every access unchanged.
  virtual RangeOptions GetRangeOptions(const Resource& /*range*/) const { return {}; }
};

// A device whose handlers are called one at a time. The same handlers as DeviceIo.
class DeviceIoMut {
 public:
  virtual ~DeviceIoMut() = default;

  virtual void Read(IoAddress /*base*/, IoAddress /*offset*/, absl::Span<uint8_t> /*data*/) {}
  virtual void Write(IoAddress /*base*/, IoAddress /*offset*/, absl::Span<const uint8_t> /*data*/) {
  }
  virtual void PioRead(PioAddress /*base*/, PioAddress /*offset*/, absl::Span<uint8_t> /*data*/) {}
  virtual void PioWrite(PioAddress /*base*/, PioAddress /*offset*/,
                        absl::Span<const uint8_t> /*data*/) {}

  virtual DeviceResources GetAssignedResources() const { return {}; }
  virtual DeviceResources GetTrappedIoResources() const { return GetAssignedResources(); }
  virtual RangeOptions GetRangeOptions(const Resource& /*range*/) const { return {}; }
};

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICE_DEVICE_IO_H_
