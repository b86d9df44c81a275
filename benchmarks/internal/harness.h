// benchmarks/internal/harness.h — per-thread CPU time of range lookups under a design.
//
// A "design" is a class with
//   void Build(const std::vector<BenchRange>&)  the initial map
//   uint64_t Lookup(uint64_t address)           find the range, call its device (virtual)
//   void Republish()                            a writer's change (may be a no-op copy)
//   void ThreadEnter() / ThreadLeave()          per reader thread (liburcu registration)
//   void Quiesce()                              every 1024 lookups (liburcu QSBR)
//   static constexpr bool kWriterSafe           false for the unprotected floor
// RunLookups runs `threads` readers, each timing its own CPU time over a fixed number of
// lookups, with an optional writer calling Republish every 100 µs or back to back, and
// reports the mean
// per-thread ns per lookup. Medians over repetitions are taken by the caller.
//
// Per-thread CPU time, not wall time: a writer beside two readers oversubscribes two cores.

#ifndef DBS_DEVICE_BENCHMARKS_INTERNAL_HARNESS_H_
#define DBS_DEVICE_BENCHMARKS_INTERNAL_HARNESS_H_

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/types/span.h"
#include "dbs_device/manager/device_io.h"

namespace dbs::bench {

// What every design's map points at: a device with one virtual read.
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

struct BenchRange {
  uint64_t base;
  uint64_t size;
  BenchDevice* device;
};

// The index of the design called `name` in a benchmark's list of designs.
template <typename Designs>
size_t ColumnOf(const Designs& designs, const char* name) {
  for (size_t d = 0; d < designs.size(); ++d) {
    if (std::string_view(designs[d].name) == name) return d;
  }
  std::abort();
}

inline int64_t ThreadCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// `count` ranges of `size` bytes at random, distinct, `size`-aligned bases below `limit`.
inline std::vector<BenchRange> RandomRanges(size_t count, uint64_t size, uint64_t limit,
                                            std::vector<std::unique_ptr<BenchDevice>>& devices,
                                            uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  std::set<uint64_t> unique;
  while (unique.size() < count) unique.insert((rng() % (limit / size)) * size);
  const std::vector<uint64_t> bases(unique.begin(), unique.end());
  std::vector<BenchRange> ranges;
  for (uint64_t base : bases) {
    devices.push_back(std::make_unique<BenchDevice>(base));
    ranges.push_back(BenchRange{base, size, devices.back().get()});
  }
  return ranges;
}

// 64K addresses inside the ranges: uniformly random, or one address repeated.
inline std::vector<uint64_t> AddressStream(const std::vector<BenchRange>& ranges, bool random,
                                           uint64_t seed = 2) {
  std::vector<uint64_t> out(1 << 16);
  std::mt19937_64 rng(seed);
  const BenchRange& fixed = ranges[ranges.size() / 2];
  for (uint64_t& a : out) {
    if (random) {
      const BenchRange& r = ranges[rng() % ranges.size()];
      a = r.base + rng() % r.size;
    } else {
      a = fixed.base + 1;
    }
  }
  return out;
}

// What the writer thread beside the readers does.
enum class Writer {
  kNone,
  kEvery100us,  // one Republish every 100 µs: hotplug at a high but realistic rate
  kBackToBack,  // Republish after Republish: the worst a writer can do to readers
};

// " + writer", " + writer b2b" or "" (for case names).
inline const char* WriterSuffix(Writer writer) {
  switch (writer) {
    case Writer::kNone:
      return "";
    case Writer::kEvery100us:
      return " + writer";
    case Writer::kBackToBack:
      return " + writer b2b";
  }
  return "";
}

struct RunSpec {
  int threads = 1;
  Writer writer = Writer::kNone;
  int64_t lookups_per_thread = 1 << 21;
};

struct RunResult {
  double ns_per_lookup = 0;  // mean over reader threads of CPU ns per lookup
  uint64_t republishes = 0;
  uint64_t checksum = 0;
};

template <typename Design>
RunResult RunLookups(Design& design, const std::vector<uint64_t>& addresses, const RunSpec& spec) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> stop_writer{false};
  std::atomic<uint64_t> republishes{0};
  std::vector<double> ns(spec.threads);
  std::vector<uint64_t> sums(spec.threads);
  std::thread writer;
  if (spec.writer != Writer::kNone) {
    writer = std::thread([&] {
      auto next = std::chrono::steady_clock::now();
      while (!stop_writer.load(std::memory_order_relaxed)) {
        design.Republish();
        republishes.fetch_add(1, std::memory_order_relaxed);
        if (spec.writer == Writer::kEvery100us) {
          next += std::chrono::microseconds(100);
          std::this_thread::sleep_until(next);
        }
      }
    });
  }
  std::vector<std::thread> readers;
  const size_t mask = addresses.size() - 1;
  for (int t = 0; t < spec.threads; ++t) {
    readers.emplace_back([&, t] {
      design.ThreadEnter();
      // Warm-up, untimed: caches, per-thread tables and lazily created state.
      uint64_t warm = 0;
      for (size_t w = 0; w < std::min<size_t>(addresses.size(), 1 << 14); ++w) {
        warm += design.Lookup(addresses[w]);
      }
      sums[t] = warm;
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      uint64_t sum = 0;
      const int64_t start = ThreadCpuNanos();
      size_t i = static_cast<size_t>(t) * 977;
      for (int64_t n = 0; n < spec.lookups_per_thread; ++n) {
        sum += design.Lookup(addresses[i & mask]);
        ++i;
        if ((n & 1023) == 1023) design.Quiesce();
      }
      const int64_t end = ThreadCpuNanos();
      design.ThreadLeave();
      ns[t] = static_cast<double>(end - start) / static_cast<double>(spec.lookups_per_thread);
      sums[t] += sum;
    });
  }
  while (ready.load() < spec.threads) std::this_thread::yield();
  go.store(true, std::memory_order_release);
  for (auto& r : readers) r.join();
  stop_writer = true;
  if (writer.joinable()) writer.join();
  RunResult result;
  for (int t = 0; t < spec.threads; ++t) {
    result.ns_per_lookup += ns[t] / spec.threads;
    result.checksum += sums[t];
  }
  result.republishes = republishes.load();
  return result;
}

inline double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The median of `repetitions` values of `sample()`.
template <typename F>
double MedianOf(int repetitions, F&& sample) {
  std::vector<double> values;
  for (int r = 0; r < repetitions; ++r) values.push_back(sample());
  return Median(values);
}

inline double MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace dbs::bench

#endif  // DBS_DEVICE_BENCHMARKS_INTERNAL_HARNESS_H_
