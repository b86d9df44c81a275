// tests/manager/recording_device.h — a thread-safe DeviceIo for manager tests: it records
// every access (kind, base, offset, bytes), counts calls with atomics, answers reads with
// a byte pattern derived from its id and the offset, and can run a hook inside a handler.

#ifndef DBS_DEVICE_TESTS_MANAGER_RECORDING_DEVICE_H_
#define DBS_DEVICE_TESTS_MANAGER_RECORDING_DEVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "dbs_device/device/mutex_device.h"

namespace dbs::testing {

struct Access {
  enum Kind { kRead, kWrite, kPioRead, kPioWrite } kind;
  uint64_t base;
  uint64_t offset;
  std::vector<uint8_t> data;
  friend bool operator==(const Access&, const Access&) = default;
};

class RecordingDevice : public DeviceIo {
 public:
  explicit RecordingDevice(uint8_t id = 0, std::atomic<int64_t>* live = nullptr)
      : id_(id), live_(live) {
    if (live_ != nullptr) live_->fetch_add(1);
  }
  ~RecordingDevice() override {
    destroyed_.store(true);
    if (live_ != nullptr) live_->fetch_sub(1);
  }

  void Read(IoAddress base, IoAddress offset, absl::Span<uint8_t> data) override {
    Answer(offset.raw_value(), data);
    Record({Access::kRead, base.raw_value(), offset.raw_value(), {data.begin(), data.end()}});
  }
  void Write(IoAddress base, IoAddress offset, absl::Span<const uint8_t> data) override {
    Record({Access::kWrite, base.raw_value(), offset.raw_value(), {data.begin(), data.end()}});
  }
  void PioRead(PioAddress base, PioAddress offset, absl::Span<uint8_t> data) override {
    Answer(offset.raw_value(), data);
    Record({Access::kPioRead, base.raw_value(), offset.raw_value(), {data.begin(), data.end()}});
  }
  void PioWrite(PioAddress base, PioAddress offset, absl::Span<const uint8_t> data) override {
    Record({Access::kPioWrite, base.raw_value(), offset.raw_value(), {data.begin(), data.end()}});
  }

  // The byte a read at `offset` returns.
  uint8_t Pattern(uint64_t offset) const { return static_cast<uint8_t>(id_ * 16 + offset); }

  // Runs inside every handler, after recording (set before the device is shared).
  std::function<void()> on_access;
  // When false, accesses are counted but not recorded (for stress tests).
  bool record = true;

  std::vector<Access> accesses() const {
    std::lock_guard lock(mu_);
    return log_;
  }
  uint64_t calls() const { return calls_.load(); }
  bool destroyed() const { return destroyed_.load(); }
  uint8_t id() const { return id_; }

 private:
  void Answer(uint64_t offset, absl::Span<uint8_t> data) const {
    for (size_t i = 0; i < data.size(); ++i) data[i] = Pattern(offset + i);
  }
  void Record(Access access) {
    calls_.fetch_add(1);
    if (record) {
      std::lock_guard lock(mu_);
      log_.push_back(std::move(access));
    }
    if (on_access) on_access();
  }

  const uint8_t id_;
  std::atomic<int64_t>* const live_;
  std::atomic<uint64_t> calls_{0};
  std::atomic<bool> destroyed_{false};
  mutable std::mutex mu_;
  std::vector<Access> log_;
};

}  // namespace dbs::testing

#endif  // DBS_DEVICE_TESTS_MANAGER_RECORDING_DEVICE_H_
