// testing/boot_trace.h — reads the boot traces and device maps of testing/traces.
//
// Trace: one access per line, `R|W P|M 0x<address> <size> 0x<value>` (gzip or plain).
// Device map: one range per line, `P|M 0x<base> 0x<size> <name>`. A map may layer a small
// range over a larger one, as QEMU's memory tree does; LoadDeviceMap flattens them, the
// smaller on top (the larger is split around it), and says what it did in `notes`.
//
// Thread-safety: plain functions and values.

#ifndef DBS_DEVICE_TESTING_BOOT_TRACE_H_
#define DBS_DEVICE_TESTING_BOOT_TRACE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dbs::trace {

struct Access {
  bool write = false;
  bool pio = false;
  uint64_t address = 0;
  uint8_t size = 0;    // 1, 2, 4 or 8
  uint64_t value = 0;  // what was written, or what the device answered
  uint32_t line = 0;   // 1-based line in the file
};

struct MapRange {
  bool pio = false;
  uint64_t base = 0;
  uint64_t size = 0;
  std::string name;
};

struct DeviceMap {
  std::vector<MapRange> ranges;  // flattened: no two overlap; sorted by (pio, base)
  std::vector<std::string> notes;
};

// Parses a trace file; kInvalidArgument names the first malformed line.
absl::StatusOr<std::vector<Access>> LoadTrace(const std::string& path);
absl::StatusOr<DeviceMap> LoadDeviceMap(const std::string& path);
// Flattens layered ranges (exposed for tests).
DeviceMap Flatten(std::vector<MapRange> ranges);

// The path of a file of this repository from a test or `bazel run` (runfiles), e.g.
// "testing/traces/pc.trace.gz".
std::string RunfilePath(const std::string& workspace_relative);
// The whole of a file of this repository (e.g. "testing/traces/pc.console.log"), or ""
// if it cannot be read.
std::string ReadRunfile(const std::string& workspace_relative);

// The RTC time a trace shows: the first time and date read from CMOS registers 0-9 (BCD),
// and the pace at which its seconds advanced (one second between the first read and the
// first read showing the next second), so a replay can inject a clock that reads what the
// recorded boot read. nullopt if the trace reads no complete time or no second change.
struct RecordedClock {
  absl::Time start;         // the time read at `start_line`
  uint32_t start_line = 0;  // the line of the first seconds read
  absl::Duration per_line;  // time per trace line
  absl::Time At(uint32_t line) const {
    return start + (static_cast<int64_t>(line) - static_cast<int64_t>(start_line)) * per_line;
  }
};
std::optional<RecordedClock> InferRtcClock(const std::vector<Access>& accesses);

// The bytes of an access's value, little-endian.
std::vector<uint8_t> ValueBytes(uint64_t value, uint8_t size);
uint64_t BytesValue(const std::vector<uint8_t>& bytes);

}  // namespace dbs::trace

#endif  // DBS_DEVICE_TESTING_BOOT_TRACE_H_
