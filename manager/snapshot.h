// manager/snapshot.h — the bytes of a snapshot: a checksummed, versioned envelope, and the
// DeviceManager payload inside it (which device holds which resources, and its state).
//
// DeviceManager::Snapshot and DeviceManager::Restore are the usual entry points; this
// header is for tools that read snapshots, VMMs that put a snapshot inside their own (the
// mini VMM seals guest memory and registers with the same envelope), and the fuzzer.
//
// THE ENVELOPE (all integers little-endian):
//
//   offset  size  field
//        0     8  magic "dbs-snap"
//        8     4  format version, kSnapshotFormatVersion
//       12     4  payload kind, four ASCII characters ("DEVM": a DeviceManager snapshot)
//       16     8  payload length in bytes
//       24     4  CRC-32C of the header (this field taken as zero) and the payload
//       28     4  reserved, zero
//       32     n  payload
//
// The payload of a DeviceManager snapshot is a protocol buffer (manager/internal/
// snapshot.proto), and each device's state inside it is the device's own protocol buffer
// (devices/internal/state.proto). VERSIONING: a reader skips fields it does not know and
// reads fields a snapshot lacks as their defaults, so adding fields keeps the format
// version; a change an older reader would misread raises it, and a reader refuses a
// version it does not know (kUnimplemented) rather than guess.
//
// ERRORS when reading (the state of whatever was going to be restored is untouched):
//   kDataLoss         truncated bytes, trailing bytes, or a checksum that does not match
//   kInvalidArgument  not a snapshot (magic), another payload kind, a payload that does not
//                     parse, a resource of unknown kind or out of its space, a registered
//                     range outside its device's resources, a device id 0, repeated or not
//                     below next_id
//   kAlreadyExists    two devices holding overlapping resources
//   kUnimplemented    a format version this reader does not know
//
// Cost: encoding and decoding are linear in the snapshot's size, 80 to 90 bytes per
// device of this library (benchmarks/README.md has the figures). Thread-safety: pure
// functions.

#ifndef DBS_DEVICE_MANAGER_SNAPSHOT_H_
#define DBS_DEVICE_MANAGER_SNAPSHOT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dbs_device/device/device.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

inline constexpr uint32_t kSnapshotFormatVersion = 1;
inline constexpr size_t kSnapshotHeaderSize = 32;
// The payload kind of a DeviceManager snapshot.
inline constexpr absl::string_view kDeviceManagerPayload = "DEVM";

// Wraps `payload` in the envelope. REQUIRES: `kind` is 4 characters.
std::string SealSnapshot(absl::string_view kind, absl::string_view payload);
// The payload of a sealed snapshot of `kind`, checked (see ERRORS above); it points into
// `bytes`.
absl::StatusOr<absl::string_view> UnsealSnapshot(absl::string_view bytes, absl::string_view kind);

// One placed device as a snapshot records it.
struct DeviceRecord {
  DeviceId id = 0;
  std::string name;
  std::string kind;                // the key a DeviceFactory restores it by
  std::string state;               // the device's own bytes (e.g. Serial16550State::Encode)
  DeviceResources allocated;       // exactly what the ResourceManager handed out, in order
  DeviceResources registered;      // the PIO/MMIO ranges registered with the IoManager
  bool shared_legacy_irq = false;  // its legacy IRQ was allocated shareable

  friend bool operator==(const DeviceRecord&, const DeviceRecord&) = default;
};

// Every placed device of a DeviceManager, by ascending id.
struct DeviceManagerSnapshot {
  DeviceId next_id = 1;  // the id the manager would have given next
  std::vector<DeviceRecord> devices;

  friend bool operator==(const DeviceManagerSnapshot&, const DeviceManagerSnapshot&) = default;
};

// The sealed bytes of `snapshot`.
std::string EncodeDeviceManagerSnapshot(const DeviceManagerSnapshot& snapshot);
// The snapshot in `bytes`, unsealed, parsed and checked for consistency on its own: each
// resource in its space, registered ranges inside their device's allocated ones, no two
// devices holding the same resource (a legacy IRQ may be held by several that all share
// it), ids distinct, non-zero and below next_id.
absl::StatusOr<DeviceManagerSnapshot> DecodeDeviceManagerSnapshot(absl::string_view bytes);

}  // namespace dbs

#endif  // DBS_DEVICE_MANAGER_SNAPSHOT_H_
