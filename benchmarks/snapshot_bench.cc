// snapshot_bench: what saving and restoring a VM's devices costs, and how big the bytes are,
// with 64 and 4,096 devices placed by a DeviceManager; a summary with verdicts at the end.
//
//   ./bazelw run -c opt //benchmarks:snapshot
//
// The VM: half 16550A UARTs (8 ports each), half dummy devices (a 4 KiB MMIO window and an
// MSI-X vector each). Snapshot: DeviceManager::Snapshot, every device's state encoded and
// the whole sealed. Restore: DeviceManager::Restore into fresh managers (their construction
// and destruction are not timed): decode and check the bytes, reserve every resource
// exactly, make each device from its state, register every range in one IoManager
// publication. Decode: the bytes decoded and checked alone. Add one by one: the same
// devices hot-added with AddDevice, one allocation and one publication each, for scale.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "benchmark/benchmark.h"
#include "dbs_device/benchmarks/internal/gbench.h"
#include "dbs_device/devices/dummy.h"
#include "dbs_device/devices/serial16550.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/device_model.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/manager/snapshot.h"

namespace dbs {
namespace {

constexpr int64_t kDeviceCounts[] = {64, 4096};

std::shared_ptr<Device> MakeDevice(int i) {
  if (i % 2 == 0) {
    return std::make_shared<ManagedDevice<Serial16550>>(
        absl::StrFormat("ttyS%d", i), std::vector<ResourceConstraint>{PioConstraint{8, 8}},
        [](uint8_t) {});
  }
  return std::make_shared<ManagedDevice<DummyDevice>>(
      absl::StrFormat("dummy%d", i),
      std::vector<ResourceConstraint>{MmioConstraint{0x1000}, PciMsixIrqConstraint{1}});
}

void Populate(DeviceModel& s, int64_t n) {
  for (int i = 0; i < n; ++i) {
    if (!s.devices().AddDevice(MakeDevice(i)).ok()) std::abort();
  }
}

const DeviceFactory& Factory() {
  static const DeviceFactory* const factory = [] {
    auto* f = new DeviceFactory;
    (void)f->Register(Serial16550::kKind, RestoreManaged<Serial16550>([](uint8_t) {}));
    (void)f->Register(DummyDevice::kKind, RestoreManaged<DummyDevice>());
    return f;
  }();
  return *factory;
}

std::string SnapshotOf(int64_t n) {
  DeviceModel s;
  Populate(s, n);
  return *s.devices().Snapshot();
}

void BM_Snapshot(benchmark::State& state) {
  DeviceModel s;
  Populate(s, state.range(0));
  size_t bytes = 0;
  for (auto _ : state) {
    absl::StatusOr<std::string> saved = s.devices().Snapshot();
    if (!saved.ok()) state.SkipWithError("snapshot failed");
    bytes = saved->size();
    benchmark::DoNotOptimize(saved);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["bytes_per_device"] = static_cast<double>(bytes) / state.range(0);
}

void BM_Restore(benchmark::State& state) {
  const std::string saved = SnapshotOf(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    auto target = std::make_unique<DeviceModel>();
    state.ResumeTiming();
    if (!target->devices().Restore(saved, Factory()).ok()) state.SkipWithError("restore failed");
    state.PauseTiming();
    target.reset();
    state.ResumeTiming();
  }
}

void BM_Decode(benchmark::State& state) {
  const std::string saved = SnapshotOf(state.range(0));
  for (auto _ : state) {
    absl::StatusOr<DeviceManagerSnapshot> decoded = DecodeDeviceManagerSnapshot(saved);
    if (!decoded.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(decoded);
  }
}

void BM_AddOneByOne(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto target = std::make_unique<DeviceModel>();
    std::vector<std::shared_ptr<Device>> devices;
    for (int i = 0; i < state.range(0); ++i) devices.push_back(MakeDevice(i));
    state.ResumeTiming();
    for (auto& d : devices) {
      if (!target->devices().AddDevice(std::move(d)).ok()) state.SkipWithError("add failed");
    }
    state.PauseTiming();
    target.reset();
    state.ResumeTiming();
  }
}

void Counts(benchmark::internal::Benchmark* b) {
  b->ArgName("devices")->Unit(benchmark::kMicrosecond);
  for (int64_t n : kDeviceCounts) b->Arg(n);
}
BENCHMARK(BM_Snapshot)->Apply(Counts);
BENCHMARK(BM_Restore)->Apply(Counts);
BENCHMARK(BM_Decode)->Apply(Counts);
BENCHMARK(BM_AddOneByOne)->Apply(Counts);

void PrintSummary(const bench::CollectingReporter& results, const bench::SuiteOptions& options) {
  auto us = [&](const char* name, int64_t n) {
    return results.RealNsOf(absl::StrFormat("%s/devices:%d", name, n));  // in microseconds
  };
  std::printf("\nSnapshot and restore, microseconds (wall, median). Lower is better.\n\n");
  std::printf("%8s %10s %10s %10s %12s %10s %10s\n", "devices", "snapshot", "restore", "decode",
              "add 1 by 1", "bytes", "per dev.");
  double per_device[2] = {-1, -1};
  for (int i = 0; i < 2; ++i) {
    const int64_t n = kDeviceCounts[i];
    const bench::Measured* m = results.Find(absl::StrFormat("BM_Snapshot/devices:%d", n));
    if (m == nullptr) continue;
    per_device[i] = m->counters.at("bytes_per_device");
    std::printf("%8lld %10.1f %10.1f %10.1f %12.1f %10.0f %10.1f\n", static_cast<long long>(n),
                us("BM_Snapshot", n), us("BM_Restore", n), us("BM_Decode", n),
                us("BM_AddOneByOne", n), m->counters.at("bytes"), per_device[i]);
  }
  std::printf(
      "  restore: decode + reserve + make the devices + one publication; add 1 by 1: the same\n"
      "  devices hot-added, one allocation and one publication each\n");
  if (options.quick) {
    std::printf("\nA smoke run (--quick): too short to be read as a result; no verdicts.\n");
    return;
  }
  const double r64 = us("BM_Restore", 64), r4k = us("BM_Restore", 4096);
  if (r64 < 0 || r4k < 0 || per_device[0] < 0 || per_device[1] < 0) return;
  std::printf("\nVerdicts:\n");
  bench::PrintVerdict(r64 < 500, "restoring 64 devices under 0.5 ms",
                      absl::StrFormat("%.3f ms", r64 / 1e3));
  bench::PrintVerdict(r4k < 10000, "restoring 4,096 devices under 10 ms",
                      absl::StrFormat("%.2f ms", r4k / 1e3));
  const double growth = per_device[1] / per_device[0];
  bench::PrintVerdict(
      growth > 0.8 && growth < 1.25, "size linear in the device count",
      absl::StrFormat("%.1f bytes per device at 64, %.1f at 4,096", per_device[0], per_device[1]));
}

}  // namespace
}  // namespace dbs

int main(int argc, char** argv) {
  const dbs::bench::SuiteOptions options = dbs::bench::ParseSuiteFlags(
      &argc, argv,
      "snapshot: DeviceManager::Snapshot and Restore with 64 and 4,096 devices, the bytes'\n"
      "size, and the same devices hot-added one by one, then a summary with verdicts.\n"
      "  ./bazelw run -c opt //benchmarks:snapshot [-- --quick]",
      /*repetitions=*/3, /*min_time=*/0.2);
  dbs::PrintSummary(*dbs::bench::RunBenchmarks(), options);
  benchmark::Shutdown();
  return 0;
}
