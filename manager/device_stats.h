// manager/device_stats.h — what IoManager counted for one device: reads, writes, bytes,
// and failed accesses by status code. A plain value, summed from per-thread counters when
// IoManager::GetDeviceStats or UnclaimedStats is called.
//
// Thread-safety: a plain value.

#ifndef DBS_DEVICE_MANAGER_DEVICE_STATS_H_
#define DBS_DEVICE_MANAGER_DEVICE_STATS_H_

#include <cstdint>
#include <map>
#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace dbs {

// Dispatch counts of one device (or of the accesses that found none).
struct DeviceStats {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  // Failed accesses by status code (kOutOfRange for a device; kNotFound and
  // kInvalidArgument for unclaimed accesses). Codes that never occurred are absent.
  std::map<absl::StatusCode, uint64_t> errors;

  uint64_t total_errors() const;
  // "reads=3 writes=1 bytes_read=12 bytes_written=1 errors={OUT_OF_RANGE: 1}"
  std::string ToString() const;
  friend bool operator==(const DeviceStats&, const DeviceStats&) = default;
};
std::ostream& operator<<(std::ostream& os, const DeviceStats& stats);

}  // namespace dbs

#endif  // DBS_DEVICE_MANAGER_DEVICE_STATS_H_
