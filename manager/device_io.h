// manager/device_io.h — moved: DeviceIo and DeviceIoMut are in device/device_io.h, and
// MutexDevice in device/mutex_device.h (target //device). This forwarding header (and the
// target //manager:device_io) stays for one release.

#ifndef DBS_DEVICE_MANAGER_DEVICE_IO_H_
#define DBS_DEVICE_MANAGER_DEVICE_IO_H_

#include "dbs_device/device/device_io.h"     // IWYU pragma: export
#include "dbs_device/device/mutex_device.h"  // IWYU pragma: export

#endif  // DBS_DEVICE_MANAGER_DEVICE_IO_H_
