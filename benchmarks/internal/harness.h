// benchmarks/internal/harness.h — the devices every benchmarked design points at, and the
// small helpers the suites share.
//
// BenchDevice is what the bare-lookup benchmarks call (one virtual method); ConstantDevice
// is a DeviceIo, what IoManager and the dispatch benchmarks call. Writer says what the
// thread beside the readers does (gbench.h runs it).

#ifndef DBS_DEVICE_BENCHMARKS_INTERNAL_HARNESS_H_
#define DBS_DEVICE_BENCHMARKS_INTERNAL_HARNESS_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "dbs_device/device/mutex_device.h"

namespace dbs::bench {

// What the bare-lookup designs point at: a device with one virtual read.
class BenchDevice {
 public:
  explicit BenchDevice(uint64_t id) : id_(id) {}
  virtual ~BenchDevice() = default;
  virtual uint64_t Read(uint64_t offset) const { return id_ ^ offset; }

 private:
  uint64_t id_;
};

// A DeviceIo that answers every read with (id ^ offset) and ignores writes.
class ConstantDevice final : public DeviceIo {
 public:
  explicit ConstantDevice(uint64_t id) : id_(id) {}
  void Read(IoAddress, IoAddress offset, absl::Span<uint8_t> data) override {
    data[0] = static_cast<uint8_t>(id_ ^ offset.raw_value());
  }
  void PioRead(PioAddress, PioAddress offset, absl::Span<uint8_t> data) override {
    data[0] = static_cast<uint8_t>(id_ ^ offset.raw_value());
  }
  void Write(IoAddress, IoAddress, absl::Span<const uint8_t>) override {}
  void PioWrite(PioAddress, PioAddress, absl::Span<const uint8_t>) override {}

 private:
  uint64_t id_;
};

// What the writer thread beside the readers does.
enum class Writer {
  kNone,
  kEvery100us,  // one Republish every 100 µs: hotplug at a high but realistic rate
  kBackToBack,  // Republish after Republish: the worst a writer can do to readers
};

inline double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace dbs::bench

#endif  // DBS_DEVICE_BENCHMARKS_INTERNAL_HARNESS_H_
