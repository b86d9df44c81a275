// dispatch: is IoManager faster than what a VMM author uses now? VM-exit dispatch through
// the public IoManager against the designs a VMM would otherwise use, in one binary, and
// what registration costs.
//
//   ./bazelw run -c opt //benchmarks:dispatch                       # about 2 minutes
//   ./bazelw run -c opt //benchmarks:dispatch -- --quick            # a few seconds
//   ./bazelw run -c opt //benchmarks:dispatch -- --json=/tmp/d.json # also write JSON
//
// Each dispatch is a 1-byte read: find the device's range, check the access fits, call the
// device's virtual PioRead/Read with (base, offset, data). Per-thread CPU time per
// dispatch, median of the repetitions; with a writer, a thread hot-adds or hot-removes a
// device every 100 µs. Ratios are to the unprotected btree with the same case (without the
// writer), measured in the same run.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "dbs_device/benchmarks/internal/dispatch_designs.h"
#include "dbs_device/benchmarks/internal/harness.h"
#include "dbs_device/benchmarks/internal/urcu_baselines.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/resources/resource_manager.h"

ABSL_FLAG(bool, quick, false, "a smoke run: one repetition of fewer dispatches, no verdicts");
ABSL_FLAG(std::string, json, "", "also write every result to this JSON file");

namespace dbs::bench {
namespace {

struct Options {
  bool quick = false;
  int repetitions = 3;
  int64_t lookups = 1 << 20;
  std::string json;
};

struct Case {
  AddressSpace space;
  int devices;
  bool random;
  int threads;
  bool writer;
  std::string Name() const {
    return absl::StrFormat("%-4s %5d dev, %-8s, %dT%s", AddressSpaceName(space), devices,
                           random ? "random" : "repeated", threads, writer ? " + hotplug" : "");
  }
};

using Runner = std::function<RunResult(AddressSpace, const std::vector<Registration>&,
                                       const std::vector<uint64_t>&, const RunSpec&)>;

template <typename Design>
Runner RunnerFor() {
  return [](AddressSpace space, const std::vector<Registration>& regs,
            const std::vector<uint64_t>& addresses, const RunSpec& spec) {
    Design design;
    design.UseSpace(space);
    design.Build(regs);
    return RunLookups(design, addresses, spec);
  };
}

struct DesignEntry {
  const char* name;
  const char* key;  // for JSON
  bool writer_safe;
  Runner run;
};

std::vector<DesignEntry> Designs() {
  return {
      {FloorDispatch::kName, "floor_btree", false, RunnerFor<FloorDispatch>()},
      {IoManagerDispatch::kName, "io_manager", true, RunnerFor<IoManagerDispatch>()},
      {IoManagerStatsDispatch::kName, "io_manager_statistics", true,
       RunnerFor<IoManagerStatsDispatch>()},
      {IoBusDispatch::kName, "io_bus", true, RunnerFor<IoBusDispatch>()},
      {RwLockDispatch::kName, "shared_mutex_map", true, RunnerFor<RwLockDispatch>()},
      {SharedPtrDispatch::kName, "atomic_shared_ptr", true, RunnerFor<SharedPtrDispatch>()},
      {MutexDispatch::kName, "mutex_btree", true, RunnerFor<MutexDispatch>()},
      {kUrcuQsbrName, "liburcu_qsbr", true, RunUrcuQsbrDispatch},
  };
}

std::vector<uint64_t> Addresses(const std::vector<Registration>& regs, bool random) {
  std::vector<BenchRange> ranges;
  for (const Registration& r : regs) ranges.push_back({r.base, r.size, nullptr});
  return AddressStream(ranges, random);
}

// A device DeviceManager can place: 8 ports and a 4 KiB MMIO window.
class PlaceableDevice : public Device {
 public:
  std::vector<ResourceConstraint> GetResourceConstraints() const override {
    return {PioConstraint{8, 8}, MmioConstraint{0x1000}};
  }
};

struct RegistrationCosts {
  double hot_add_us, transaction_1000_us, move_us, remove_device_us;
};

RegistrationCosts MeasureRegistration(const Options& options) {
  const int reps = std::max(options.repetitions, 5);
  RegistrationCosts costs{};
  // With 64 devices present, as in the dispatch cases.
  const std::vector<Registration> present = RandomDevices(AddressSpace::kMmio, 64, 8);
  costs.hot_add_us = MedianOf(reps, [&] {
    ResourceManager resources = ResourceManager::X86Defaults();
    IoManagerDispatch design;
    design.Build(present);
    DeviceManager devices(resources, design.io());
    auto device = std::make_shared<PlaceableDevice>();
    const auto start = std::chrono::steady_clock::now();
    if (!devices.AddDevice(device).ok()) std::abort();
    return MicrosSince(start);
  });
  costs.remove_device_us = MedianOf(reps, [&] {
    ResourceManager resources = ResourceManager::X86Defaults();
    IoManagerDispatch design;
    design.Build(present);
    DeviceManager devices(resources, design.io());
    absl::StatusOr<DeviceId> id = devices.AddDevice(std::make_shared<PlaceableDevice>());
    const auto start = std::chrono::steady_clock::now();
    if (!id.ok() || !devices.RemoveDevice(*id).ok()) std::abort();
    return MicrosSince(start);
  });
  costs.transaction_1000_us = MedianOf(reps, [&] {
    IoManagerDispatch design;
    design.Build(present);
    auto device = std::make_shared<ConstantDevice>(1);
    const auto start = std::chrono::steady_clock::now();
    IoManager::Transaction tx = design.io().Begin();
    for (uint64_t i = 0; i < 1000; ++i) {
      (void)tx.Register(device, {MmioRange{(uint64_t{1} << 41) + i * 0x1000, 0x1000}});
    }
    if (!tx.Commit().ok()) std::abort();
    return MicrosSince(start);
  });
  costs.move_us = MedianOf(reps, [&] {
    IoManagerDispatch design;
    design.Build(present);
    const Registration& r = present[present.size() / 2];
    const auto start = std::chrono::steady_clock::now();
    if (!design.io().MoveDeviceIo(MmioRange{r.base, r.size}, uint64_t{1} << 42).ok()) {
      std::abort();
    }
    return MicrosSince(start);
  });
  return costs;
}

int Main() {
  Options options;
  if (absl::GetFlag(FLAGS_quick)) {
    options.quick = true;
    options.repetitions = 1;
    options.lookups = 1 << 15;
  }
  options.json = absl::GetFlag(FLAGS_json);
  const std::vector<DesignEntry> designs = Designs();
  std::vector<Case> cases;
  for (AddressSpace space : {AddressSpace::kPio, AddressSpace::kMmio}) {
    for (int devices : {64, 4096, 65536}) {
      // 65,536 devices of 8 ports each do not fit the 64 Ki port space.
      if (space == AddressSpace::kPio && devices > 4096) continue;
      for (bool random : {true, false}) {
        for (int threads : {1, 2}) {
          for (bool writer : {false, true}) {
            cases.push_back(Case{space, devices, random, threads, writer});
          }
        }
      }
    }
  }
  std::printf(
      "dispatch: %u CPUs, %d repetitions, %lld dispatches per thread per run; "
      "%zu cases x %zu designs\n",
      std::thread::hardware_concurrency(), options.repetitions,
      static_cast<long long>(options.lookups), cases.size(), designs.size());
  std::vector<std::vector<double>> ns(cases.size(), std::vector<double>(designs.size(), -1));
  const auto started = std::chrono::steady_clock::now();
  for (size_t c = 0; c < cases.size(); ++c) {
    const Case& k = cases[c];
    const std::vector<Registration> regs = RandomDevices(k.space, k.devices, 8);
    const std::vector<uint64_t> addresses = Addresses(regs, k.random);
    const RunSpec spec{k.threads, k.writer ? Writer::kEvery100us : Writer::kNone, options.lookups};
    for (size_t d = 0; d < designs.size(); ++d) {
      if (k.writer && !designs[d].writer_safe) continue;
      std::vector<double> samples;
      for (int r = 0; r < options.repetitions; ++r) {
        samples.push_back(designs[d].run(k.space, regs, addresses, spec).ns_per_lookup);
      }
      ns[c][d] = Median(samples);
    }
    // A progress line: rewritten in place on a terminal, one line per case otherwise.
    std::printf("%s  [%2zu/%zu] %-40s %5.0f s%s", isatty(1) ? "\r" : "", c + 1, cases.size(),
                k.Name().c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
                isatty(1) ? "" : "\n");
    std::fflush(stdout);
  }
  std::printf("\n\n");

  const size_t manager = ColumnOf(designs, IoManagerDispatch::kName);
  const size_t manager_stats = ColumnOf(designs, IoManagerStatsDispatch::kName);
  const size_t io_bus = ColumnOf(designs, IoBusDispatch::kName);
  auto floor_of = [&](size_t c) { return cases[c].writer ? ns[c - 1][0] : ns[c][0]; };
  std::printf("%-38s", "ns per dispatch (ratio to floor)");
  for (const DesignEntry& d : designs) std::printf(" | %-22.22s", d.name);
  std::printf(" | IoManager/floor | IoManager/IoBus (+ statistics)\n");
  for (size_t c = 0; c < cases.size(); ++c) {
    std::printf("%-38s", cases[c].Name().c_str());
    for (size_t d = 0; d < designs.size(); ++d) {
      if (ns[c][d] < 0) {
        std::printf(" | %-22s", "-");
      } else {
        std::printf(" | %7.1f (%6.2fx)      ", ns[c][d], ns[c][d] / floor_of(c));
      }
    }
    std::printf(" | %5.2fx          | %5.2fx (%5.2fx)\n", ns[c][manager] / floor_of(c),
                ns[c][manager] / ns[c][io_bus], ns[c][manager_stats] / ns[c][io_bus]);
  }

  // What IoManager adds to the bare IoBus lookup and the same device call, over all cases.
  std::printf("\n");
  for (size_t d : {manager, manager_stats}) {
    std::vector<double> overhead;
    for (size_t c = 0; c < cases.size(); ++c) overhead.push_back(ns[c][d] / ns[c][io_bus]);
    std::printf(
        "%s / (IoBus lookup + the same DeviceIo call): median %.2fx, max %.2fx over "
        "%zu cases\n",
        designs[d].name, Median(overhead), *std::max_element(overhead.begin(), overhead.end()),
        overhead.size());
  }

  const RegistrationCosts reg = MeasureRegistration(options);
  std::printf("\nRegistration (wall time, median; 64 devices present)\n");
  std::printf("  DeviceManager::AddDevice (allocate + register):  %8.1f us\n", reg.hot_add_us);
  std::printf("  DeviceManager::RemoveDevice (with Synchronize):  %8.1f us\n",
              reg.remove_device_us);
  std::printf("  IoManager transaction of 1000 registrations:     %8.1f us\n",
              reg.transaction_1000_us);
  std::printf("  IoManager::MoveDeviceIo (a BAR move):            %8.1f us\n", reg.move_us);

  if (!options.json.empty()) {
    std::ofstream out(options.json);
    out << "{\n  \"benchmark\": \"dbs_device dispatch\",\n  \"unit\": \"ns per dispatch, "
           "per-thread CPU time, median\",\n  \"repetitions\": "
        << options.repetitions << ",\n  \"cases\": [\n";
    for (size_t c = 0; c < cases.size(); ++c) {
      const Case& k = cases[c];
      out << absl::StrFormat(
          "    {\"space\": \"%s\", \"devices\": %d, \"addresses\": \"%s\", \"threads\": %d, "
          "\"hotplug\": %s",
          AddressSpaceName(k.space), k.devices, k.random ? "random" : "repeated", k.threads,
          k.writer ? "true" : "false");
      for (size_t d = 0; d < designs.size(); ++d) {
        if (ns[c][d] >= 0) out << absl::StrFormat(", \"%s\": %.2f", designs[d].key, ns[c][d]);
      }
      out << absl::StrFormat(", \"io_manager_to_floor\": %.3f, \"io_manager_to_io_bus\": %.3f}%s\n",
                             ns[c][manager] / floor_of(c), ns[c][manager] / ns[c][io_bus],
                             c + 1 < cases.size() ? "," : "");
    }
    out << absl::StrFormat(
        "  ],\n  \"registration_us\": {\"add_device\": %.2f, \"remove_device\": %.2f, "
        "\"transaction_1000\": %.2f, \"move\": %.2f}\n}\n",
        reg.hot_add_us, reg.remove_device_us, reg.transaction_1000_us, reg.move_us);
    std::printf("\nwrote %s\n", options.json.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace dbs::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "VM-exit dispatch through IoManager against every peer design.\n"
      "  ./bazelw run -c opt //benchmarks:dispatch [-- --quick] [-- --json=PATH]");
  absl::ParseCommandLine(argc, argv);
  return dbs::bench::Main();
}
