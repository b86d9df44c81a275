// resources/resources.h — the value types of the device model, in one include.
//
// A device states what it needs as ResourceConstraints ("8 ports, anywhere in
// 0x3f8..0x3ff", "one legacy IRQ"), the ResourceManager answers with a DeviceResources list
// of concrete Resources ("ports 0x3f8+8", "IRQ 4"), and the IoManager registers the PIO
// and MMIO ranges among them:
//
//   resources/address.h           IoAddress, IoSize, PioAddress, PioSize
//   resources/resource.h          Resource and its kinds (PioRange, MmioRange, LegacyIrq, ...)
//   resources/constraint.h        ResourceConstraint and its kinds
//   resources/device_resources.h  DeviceResources, ExactConstraints
//
// Thread-safety: plain values.

#ifndef DBS_DEVICE_RESOURCES_RESOURCES_H_
#define DBS_DEVICE_RESOURCES_RESOURCES_H_

#include "dbs_device/resources/address.h"           // IWYU pragma: export
#include "dbs_device/resources/constraint.h"        // IWYU pragma: export
#include "dbs_device/resources/device_resources.h"  // IWYU pragma: export
#include "dbs_device/resources/resource.h"          // IWYU pragma: export

#endif  // DBS_DEVICE_RESOURCES_RESOURCES_H_
