// dispatch: is IoManager faster than what a VMM author uses now? VM-exit dispatch through
// the public IoManager against the designs a VMM would otherwise use, in one Google
// Benchmark binary, then what registration costs, then a summary with verdicts.
//
//   ./bazelw run -c opt //benchmarks:dispatch                 # about a minute and a half
//   ./bazelw run -c opt //benchmarks:dispatch -- --quick      # a smoke run, seconds
//   ./bazelw run -c opt //benchmarks:dispatch -- --benchmark_filter=MMIO/4096
//   ./bazelw run -c opt //benchmarks:dispatch -- --benchmark_out=/tmp/dispatch.json
//
// Each dispatch is a 1-byte read: find the device's range, check the access fits, call the
// device's virtual PioRead/Read with (base, offset, data). Benchmarks are named
// dispatch/<space>/<devices>/<random|repeated>/<idle|hotplug>/<design>/threads:<n>; one
// iteration is one dispatch, and "CPU" is per-thread CPU time. With "hotplug", a writer
// thread hot-adds or hot-removes a device every 100 µs around the timed region.

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "benchmark/benchmark.h"
#include "dbs_device/benchmarks/internal/designs.h"
#include "dbs_device/benchmarks/internal/gbench.h"
#include "dbs_device/benchmarks/internal/lookup_suite.h"
#include "dbs_device/benchmarks/internal/urcu_baselines.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/resources/resource_manager.h"

namespace dbs::bench {
namespace {

const std::vector<DesignColumn>& Designs() {
  static const std::vector<DesignColumn> designs = {
      {"floor", "floor", "absl::btree_map with no protection (ns; unsafe beside a writer)", false,
       RegisterCase<FloorDesign<DeviceIoTarget>, DeviceIoTarget>},
      {"io_manager", "IoMgr", "IoManager, this project's public dispatch", true,
       RegisterCase<IoManagerDesign, DeviceIoTarget>},
      {"io_manager_stats", "+stats", "IoManager with per-device statistics on", true,
       RegisterCase<IoManagerStatsDesign, DeviceIoTarget>},
      {"io_bus", "IoBus", "IoBus lookup and the same DeviceIo call, nothing else", true,
       RegisterCase<IoBusDesign<DeviceIoTarget>, DeviceIoTarget>},
      {"rwlock_map", "RwLock", "shared_mutex + std::map (the original crate's RwLock)", true,
       RegisterCase<RwLockDesign<DeviceIoTarget>, DeviceIoTarget>},
      {"arcswap", "ArcSwap", "atomic<shared_ptr<map>>, whole copies (Dragonball's ArcSwap)", true,
       RegisterCase<ArcSwapDesign<DeviceIoTarget>, DeviceIoTarget>},
      {"mutex_btree", "Mutex", "std::mutex + absl::btree_map", true,
       RegisterCase<MutexDesign<DeviceIoTarget>, DeviceIoTarget>},
      {"urcu_qsbr", "QSBR", "liburcu QSBR + btree (threads register, report quiescence)", true,
       RegisterUrcuQsbrDispatch},
  };
  return designs;
}

std::vector<LookupCase> Cases() {
  std::vector<LookupCase> cases;
  for (AddressSpace space : {AddressSpace::kPio, AddressSpace::kMmio}) {
    for (int devices : {64, 4096, 65536}) {
      // 65,536 devices of 8 ports each do not fit the 64 Ki port space.
      if (space == AddressSpace::kPio && devices > 4096) continue;
      for (bool random : {true, false}) {
        for (int threads : {1, 2}) {
          for (bool hotplug : {false, true}) {
            cases.push_back(
                {space, devices, random, threads, hotplug ? Writer::kEvery100us : Writer::kNone});
          }
        }
      }
    }
  }
  return cases;
}

// A device DeviceManager can place: 8 ports and a 4 KiB MMIO window.
class PlaceableDevice : public Device {
 public:
  std::vector<ResourceConstraint> GetResourceConstraints() const override {
    return {PioConstraint{8, 8}, MmioConstraint{0x1000}};
  }
};

// IoManager holding 64 devices, as in the 64-device cases: what registration is timed on.
struct SixtyFourDevices {
  SixtyFourDevices() { design.Build(present.ranges); }
  const PlacedDevices<DeviceIoTarget> present =
      PlaceRandomly<DeviceIoTarget>(AddressSpace::kMmio, 64, 8);
  IoManagerDesign design;
};

// Registration costs.
void BM_AddAndRemoveDevice(benchmark::State& state) {
  ResourceManager resources = ResourceManager::X86Defaults();
  SixtyFourDevices machine;
  IoManagerDesign& design = machine.design;
  DeviceManager devices(resources, design.io());
  auto device = std::make_shared<PlaceableDevice>();
  for (auto _ : state) {
    absl::StatusOr<DeviceId> id = devices.AddDevice(device);
    if (!id.ok() || !devices.RemoveDevice(*id).ok()) state.SkipWithError("add or remove failed");
  }
}
BENCHMARK(BM_AddAndRemoveDevice)->Name("registration/add_and_remove_device")->UseRealTime();

void BM_MoveDeviceIo(benchmark::State& state) {
  SixtyFourDevices machine;
  IoManagerDesign& design = machine.design;
  const Placement<DeviceIo>& r = machine.present.ranges[machine.present.ranges.size() / 2];
  constexpr uint64_t kAway = uint64_t{1} << 42;
  bool away = false;
  for (auto _ : state) {
    const uint64_t from = away ? kAway : r.base;
    if (!design.io().MoveDeviceIo(MmioRange{from, r.size}, away ? r.base : kAway).ok()) {
      state.SkipWithError("move failed");
    }
    away = !away;
  }
}
BENCHMARK(BM_MoveDeviceIo)->Name("registration/move_device_io")->UseRealTime();

void BM_Transaction1000(benchmark::State& state) {
  SixtyFourDevices machine;
  IoManagerDesign& design = machine.design;
  auto device = std::make_shared<ConstantDevice>(1);
  std::vector<Resource> ranges;
  for (uint64_t i = 0; i < 1000; ++i) {
    ranges.push_back(MmioRange{(uint64_t{1} << 41) + i * 0x1000, 0x1000});
  }
  for (auto _ : state) {
    IoManager::Transaction tx = design.io().Begin();
    for (const Resource& range : ranges) {
      if (!tx.Register(device, {range}).ok()) state.SkipWithError("register failed");
    }
    if (!tx.Commit().ok()) state.SkipWithError("commit failed");
    state.PauseTiming();
    if (!design.io().UnregisterDeviceIo(ranges).ok()) state.SkipWithError("unregister failed");
    state.ResumeTiming();
  }
}
BENCHMARK(BM_Transaction1000)
    ->Name("registration/transaction_of_1000")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The summary: one table (cases as rows, designs as columns), registration, verdicts.
void PrintSummary(const CollectingReporter& results, const SuiteOptions& options) {
  const std::vector<DesignColumn>& designs = Designs();
  std::printf(
      "\nDispatch: ns per 1-byte dispatch, per-thread CPU time, median. Lower is "
      "better.\n\n");
  PrintRatioTable("dispatch", Cases(), designs, results);
  std::vector<double> to_floor, to_rwlock, to_arcswap, to_io_bus, two_to_one;
  for (const LookupCase& c : Cases()) {
    auto ns = [&](int column, const LookupCase& k) {
      return results.NsOf(ResultName("dispatch", k, designs[column]));
    };
    const double floor = ns(0, Idle(c)), io_manager = ns(1, c);
    if (io_manager < 0 || floor <= 0) continue;
    to_floor.push_back(io_manager / floor);
    if (ns(3, c) > 0) to_io_bus.push_back(io_manager / ns(3, c));
    if (ns(4, c) > 0) to_rwlock.push_back(io_manager / ns(4, c));
    if (ns(5, c) > 0) to_arcswap.push_back(io_manager / ns(5, c));
    if (c.threads == 2 && ns(1, WithThreads(c, 1)) > 0) {
      two_to_one.push_back(io_manager / ns(1, WithThreads(c, 1)));
    }
  }

  const double add_remove = results.RealNsOf("registration/add_and_remove_device/real_time");
  const double move = results.RealNsOf("registration/move_device_io/real_time");
  const double transaction = results.RealNsOf("registration/transaction_of_1000/real_time");
  if (add_remove > 0 || move > 0 || transaction > 0) {
    std::printf("\nRegistration, wall time per operation (64 devices present):\n");
  }
  if (add_remove > 0) std::printf("  AddDevice + RemoveDevice     %8.2f us\n", add_remove / 1e3);
  if (move > 0) std::printf("  MoveDeviceIo                 %8.2f us\n", move / 1e3);
  if (transaction > 0) {
    std::printf("  transaction of 1,000 ranges  %8.2f us\n", transaction);  // in µs already
  }

  if (options.quick) {
    std::printf("\nA smoke run (--quick): too short to be read as a result; no verdicts.\n");
    return;
  }
  if (to_floor.empty()) return;
  std::printf("\nVerdicts (IoManager over %zu cases):\n", to_floor.size());
  const double worst = *std::max_element(to_floor.begin(), to_floor.end());
  PrintVerdict(worst <= 1.0, "at or below the unprotected floor in every case",
               absl::StrFormat("worst %.2fx", worst));
  PrintVerdict(Median(to_floor) <= 0.5, "at most 0.5x the floor (median)",
               absl::StrFormat("%.2fx", Median(to_floor)));
  if (!to_rwlock.empty() && !to_arcswap.empty()) {
    PrintVerdict(Median(to_rwlock) <= 0.34 && Median(to_arcswap) <= 0.34,
                 "at most a third of the original crate's RwLock and of ArcSwap (medians)",
                 absl::StrFormat("%.2fx and %.2fx", Median(to_rwlock), Median(to_arcswap)));
  }
  if (!two_to_one.empty()) {
    PrintVerdict(Median(two_to_one) <= 1.1, "a second vCPU costs nothing (median 2T / 1T)",
                 absl::StrFormat("%.2fx", Median(two_to_one)));
  }
  if (!to_io_bus.empty()) {
    PrintVerdict(Median(to_io_bus) <= 1.05,
                 "IoManager adds nothing measurable to IoBus + the same call (median)",
                 absl::StrFormat("%.2fx", Median(to_io_bus)));
  }
}

}  // namespace
}  // namespace dbs::bench

int main(int argc, char** argv) {
  using namespace dbs::bench;
  const SuiteOptions options = ParseSuiteFlags(
      &argc, argv,
      "dispatch: VM-exit dispatch through IoManager against the designs a VMM would use "
      "instead,\nthen registration costs, then a summary with verdicts.\n"
      "  ./bazelw run -c opt //benchmarks:dispatch [-- --quick] [-- --benchmark_out=PATH]",
      /*repetitions=*/3, /*min_time=*/0.05);
  RegisterSuite("dispatch", Cases(), Designs());
  PrintSummary(*RunBenchmarks(), options);
  benchmark::Shutdown();
  return 0;
}
