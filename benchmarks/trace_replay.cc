// trace_replay: a real Linux boot, replayed through the whole stack.
//
//   ./bazelw run -c opt //benchmarks:trace_replay
//   ./bazelw run -c opt //benchmarks:trace_replay -- --trace=PATH --devmap=PATH [--runs=N]
//
// Builds a machine from a device map — this project's 16550A at the "serial" range, its
// i8042 at "i8042-data"/"i8042-cmd", its RTC at "rtc", and a counting dummy device for
// every other name — places every device through DeviceManager (exact windows from a
// ResourceManager spanning both address spaces), then dispatches every access of the trace,
// in order, through IoManager. Accesses that hit no device are answered with all ones, as a
// PC's floating bus does, and counted. Reads from the emulated devices are compared with
// the values the trace recorded. The same replay then runs through the baseline designs
// (unprotected btree, shared_mutex + std::map, atomic<shared_ptr>, mutex + btree) on fresh
// devices, and the costs are compared. Default: the bundled pc trace (Linux 6.1 under QEMU).

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "dbs_device/benchmarks/internal/dispatch_designs.h"
#include "dbs_device/devices/cmos_rtc.h"
#include "dbs_device/devices/dummy.h"
#include "dbs_device/devices/i8042.h"
#include "dbs_device/devices/serial16550.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/resources/resource_manager.h"
#include "dbs_device/tests/data/boot_trace.h"

ABSL_FLAG(std::string, trace, "", "a trace to replay (default: the bundled Linux boot)");
ABSL_FLAG(std::string, devmap, "", "the device map for --trace");
ABSL_FLAG(int, runs, 5, "timed replays per design; the median is reported");
ABSL_FLAG(bool, quick, false, "a smoke run: one replay per design");

namespace dbs::bench {
namespace {

enum class Kind { kSerial, kI8042, kRtc, kDummy };

// One device of the machine and the ranges it answers.
struct MachineDevice {
  std::string name;
  Kind kind;
  std::vector<trace::MapRange> ranges;
  std::shared_ptr<Device> device;
};

// A fresh machine for one replay.
struct Machine {
  std::vector<MachineDevice> devices;
  std::string console;
  uint32_t line = 0;  // the trace line being replayed (drives the RTC's clock)
  std::optional<trace::RecordedClock> clock;
  int resets = 0;
};

Kind KindOf(const std::string& name) {
  if (name == "serial") return Kind::kSerial;
  if (name == "i8042-data" || name == "i8042-cmd") return Kind::kI8042;
  if (name == "rtc") return Kind::kRtc;
  return Kind::kDummy;
}

std::vector<ResourceConstraint> ExactConstraints(const std::vector<trace::MapRange>& ranges) {
  std::vector<ResourceConstraint> out;
  for (const trace::MapRange& r : ranges) {
    if (r.pio) {
      out.push_back(
          PioConstraint{static_cast<uint16_t>(r.size), 1,
                        AddressWindow<PioAddress>{static_cast<uint16_t>(r.base),
                                                  static_cast<uint16_t>(r.base + r.size - 1)}});
    } else {
      out.push_back(
          MmioConstraint{r.size, 1, AddressWindow<IoAddress>{r.base, r.base + r.size - 1}});
    }
  }
  return out;
}

std::unique_ptr<Machine> BuildMachine(const trace::DeviceMap& map,
                                      const std::optional<trace::RecordedClock>& clock) {
  auto machine = std::make_unique<Machine>();
  machine->clock = clock;
  std::map<std::string, size_t> by_name;  // i8042's two names share one device
  for (const trace::MapRange& r : map.ranges) {
    const Kind kind = KindOf(r.name);
    const std::string key = kind == Kind::kI8042 ? "i8042" : r.name;
    auto [it, inserted] = by_name.try_emplace(key, machine->devices.size());
    if (inserted) machine->devices.push_back({key, kind, {}, nullptr});
    machine->devices[it->second].ranges.push_back(r);
  }
  Machine* m = machine.get();
  for (MachineDevice& d : machine->devices) {
    std::vector<ResourceConstraint> constraints = ExactConstraints(d.ranges);
    switch (d.kind) {
      case Kind::kSerial:
        d.device = std::make_shared<ManagedDevice<Serial16550>>(
            d.name, constraints, [m](uint8_t b) { m->console.push_back(static_cast<char>(b)); });
        break;
      case Kind::kI8042:
        d.device =
            std::make_shared<ManagedDevice<I8042>>(d.name, constraints, [m] { ++m->resets; });
        break;
      case Kind::kRtc:
        d.device = std::make_shared<ManagedDevice<CmosRtc>>(d.name, constraints, [m] {
          return m->clock.has_value() ? m->clock->At(m->line) : absl::Now();
        });
        break;
      case Kind::kDummy:
        d.device = std::make_shared<ManagedDevice<DummyDevice>>(d.name, constraints);
        break;
    }
  }
  return machine;
}

struct ReplayStats {
  double seconds = 0;
  uint64_t accesses = 0;
  uint64_t unclaimed = 0;
  std::map<std::string, uint64_t> per_device;                     // accesses by device
  std::map<std::string, std::pair<uint64_t, uint64_t>> compared;  // reads, differing
  std::vector<std::string> first_differences;
};

// Replays `accesses` through `dispatch(space, write, address, data) -> found`. The timed loop
// only dispatches and keeps each read's answer; the accounting runs afterwards.
template <typename Dispatch>
ReplayStats Replay(const std::vector<trace::Access>& accesses, Machine& machine,
                   Dispatch&& dispatch, bool progress) {
  std::vector<uint64_t> answers(accesses.size());
  std::vector<bool> found(accesses.size());
  uint8_t buffer[8];
  const auto start = std::chrono::steady_clock::now();
  auto last_progress = start;
  for (size_t n = 0; n < accesses.size(); ++n) {
    const trace::Access& a = accesses[n];
    machine.line = a.line;
    const AddressSpace space = a.pio ? AddressSpace::kPio : AddressSpace::kMmio;
    for (uint8_t i = 0; i < a.size; ++i) {
      buffer[i] = a.write ? static_cast<uint8_t>(a.value >> (8 * i)) : 0;
    }
    const bool hit = dispatch(space, a.write, a.address, absl::MakeSpan(buffer, a.size));
    found[n] = hit;
    if (!hit && !a.write) std::fill(buffer, buffer + a.size, 0xff);  // a floating bus
    uint64_t answer = 0;
    for (uint8_t i = 0; i < a.size; ++i) answer |= uint64_t{buffer[i]} << (8 * i);
    answers[n] = answer;
    if (progress && (n & 0x3fff) == 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_progress > std::chrono::seconds(2)) {
        std::fprintf(stderr, "  ... %zu of %zu accesses\n", n, accesses.size());
        last_progress = now;
      }
    }
  }
  ReplayStats stats;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stats.accesses = accesses.size();

  // Which device each map range belongs to.
  std::map<std::pair<bool, uint64_t>, size_t> owner_by_base;
  for (size_t i = 0; i < machine.devices.size(); ++i) {
    for (const trace::MapRange& r : machine.devices[i].ranges) owner_by_base[{r.pio, r.base}] = i;
  }
  auto owner_of = [&](bool pio, uint64_t address) -> int {
    auto it = owner_by_base.upper_bound({pio, address});
    if (it == owner_by_base.begin()) return -1;
    --it;
    if (it->first.first != pio) return -1;
    for (const trace::MapRange& r : machine.devices[it->second].ranges) {
      if (r.pio == pio && r.base == it->first.second) {
        return address - r.base < r.size ? int(it->second) : -1;
      }
    }
    return -1;
  };
  std::vector<uint64_t> per_device(machine.devices.size());
  std::vector<std::pair<uint64_t, uint64_t>> compared(machine.devices.size());
  for (size_t n = 0; n < accesses.size(); ++n) {
    const trace::Access& a = accesses[n];
    if (!found[n]) {
      ++stats.unclaimed;
      continue;
    }
    const int owner = owner_of(a.pio, a.address);
    if (owner < 0) continue;
    ++per_device[owner];
    if (a.write || machine.devices[owner].kind == Kind::kDummy) continue;
    ++compared[owner].first;
    if (answers[n] != a.value) {
      ++compared[owner].second;
      if (stats.first_differences.size() < 10) {
        stats.first_differences.push_back(
            absl::StrFormat("line %u: %s read at %#x gave %#x, the trace %#x", a.line,
                            machine.devices[owner].name, a.address, answers[n], a.value));
      }
    }
  }
  for (size_t i = 0; i < machine.devices.size(); ++i) {
    stats.per_device[machine.devices[i].name] = per_device[i];
    if (machine.devices[i].kind != Kind::kDummy) {
      stats.compared[machine.devices[i].name] = compared[i];
    }
  }
  return stats;
}

std::vector<Registration> RegistrationsOf(const Machine& machine) {
  std::vector<Registration> regs;
  for (const MachineDevice& d : machine.devices) {
    for (const trace::MapRange& r : d.ranges) {
      regs.push_back({r.pio ? AddressSpace::kPio : AddressSpace::kMmio, r.base, r.size, d.device});
    }
  }
  return regs;
}

template <typename Design>
ABSL_ATTRIBUTE_NOINLINE double BaselineReplay(const std::vector<trace::Access>& accesses,
                                              const trace::DeviceMap& map,
                                              const std::optional<trace::RecordedClock>& clock,
                                              int runs) {
  std::vector<double> ns;
  for (int r = 0; r < runs; ++r) {
    std::unique_ptr<Machine> machine = BuildMachine(map, clock);
    Design design;
    design.Build(RegistrationsOf(*machine));
    ReplayStats stats = Replay(
        accesses, *machine,
        [&](AddressSpace space, bool write, uint64_t address, absl::Span<uint8_t> data) {
          return design.Dispatch(space, write, address, data);
        },
        false);
    ns.push_back(stats.seconds * 1e9 / stats.accesses);
  }
  return Median(ns);
}

// Places the machine through DeviceManager and replays through IoManager, `runs` times;
// returns the ns per access of each run and leaves the last run's stats and machine.
ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<std::vector<double>> WholeStackReplay(
    const std::vector<trace::Access>& accesses, const trace::DeviceMap& map,
    const std::optional<trace::RecordedClock>& clock, int runs, ReplayStats& stats,
    std::unique_ptr<Machine>& last_machine) {
  std::vector<double> ns;
  for (int r = 0; r < runs; ++r) {
    std::unique_ptr<Machine> machine = BuildMachine(map, clock);
    ResourceManagerConfig config;
    config.pio = {0, 0xffff};
    config.mmio = {{0, ~uint64_t{0}}};
    ResourceManager resources(config);
    IoManager io;
    DeviceManager devices(resources, io);
    for (MachineDevice& d : machine->devices) {
      absl::StatusOr<DeviceId> id = devices.AddDevice(d.device);
      if (!id.ok()) return id.status();
    }
    stats = Replay(
        accesses, *machine,
        [&io](AddressSpace space, bool write, uint64_t address, absl::Span<uint8_t> data) {
          return DispatchThrough(io, space, write, address, data);
        },
        /*progress=*/true);
    ns.push_back(stats.seconds * 1e9 / stats.accesses);
    last_machine = std::move(machine);
  }
  return ns;
}

int Main() {
  std::string trace_path = absl::GetFlag(FLAGS_trace);
  std::string map_path = absl::GetFlag(FLAGS_devmap);
  if (trace_path.empty() != map_path.empty()) {
    std::fprintf(stderr, "trace_replay: --trace and --devmap go together\n");
    return 2;
  }
  if (trace_path.empty()) {
    trace_path = trace::RunfilePath("tests/data/traces/pc.trace.gz");
    map_path = trace::RunfilePath("tests/data/traces/pc.devmap");
  }
  int runs = absl::GetFlag(FLAGS_runs);
  if (runs < 1) {
    std::fprintf(stderr, "trace_replay: --runs must be at least 1, not %d\n", runs);
    return 2;
  }
  if (absl::GetFlag(FLAGS_quick)) runs = 1;
  absl::StatusOr<std::vector<trace::Access>> accesses = trace::LoadTrace(trace_path);
  absl::StatusOr<trace::DeviceMap> map = trace::LoadDeviceMap(map_path);
  if (!accesses.ok() || !map.ok()) {
    std::fprintf(stderr, "trace_replay: %s\n",
                 (!accesses.ok() ? accesses.status() : map.status()).ToString().c_str());
    return 1;
  }
  const std::optional<trace::RecordedClock> clock = trace::InferRtcClock(*accesses);
  std::printf("trace_replay: %s (%zu accesses), map %s (%zu ranges after flattening)\n",
              trace_path.c_str(), accesses->size(), map_path.c_str(), map->ranges.size());
  for (const std::string& note : map->notes) std::printf("  map: %s\n", note.c_str());
  if (clock.has_value()) {
    std::printf(
        "  RTC clock from the trace: %s, %.1f us per access\n",
        absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", clock->start, absl::UTCTimeZone()).c_str(),
        absl::ToDoubleMicroseconds(clock->per_line));
  } else {
    std::printf("  RTC clock: the host's (the trace shows no RTC time)\n");
  }

  // The whole stack: DeviceManager places every device, IoManager dispatches.
  ReplayStats stats;
  std::unique_ptr<Machine> last_machine;
  absl::StatusOr<std::vector<double>> io_ns =
      WholeStackReplay(*accesses, *map, clock, runs, stats, last_machine);
  if (!io_ns.ok()) {
    std::fprintf(stderr, "trace_replay: %s\n", io_ns.status().ToString().c_str());
    return 1;
  }
  const double io_median = Median(*io_ns);
  std::printf(
      "\nIoManager, whole stack (median of %d runs): %.1f ns per access, %.2f M accesses/s\n", runs,
      io_median, 1e3 / io_median);
  std::printf(
      "  devices placed through DeviceManager: %zu; accesses that hit no device "
      "(answered all-ones): %llu\n",
      last_machine->devices.size(), static_cast<unsigned long long>(stats.unclaimed));
  for (const auto& [name, c] : stats.compared) {
    std::printf("  %-8s reads compared with the trace: %llu, differing: %llu\n", name.c_str(),
                static_cast<unsigned long long>(c.first),
                static_cast<unsigned long long>(c.second));
  }
  for (const std::string& d : stats.first_differences) std::printf("    %s\n", d.c_str());
  std::printf("  serial console: %zu bytes; i8042 reset requests: %d\n",
              last_machine->console.size(), last_machine->resets);
  std::vector<std::pair<uint64_t, std::string>> busiest;
  for (const auto& [name, n] : stats.per_device) busiest.push_back({n, name});
  std::sort(busiest.rbegin(), busiest.rend());
  std::printf("  accesses by device:");
  for (size_t i = 0; i < busiest.size() && i < 8; ++i) {
    std::printf(" %s %llu%s", busiest[i].second.c_str(),
                static_cast<unsigned long long>(busiest[i].first), i + 1 < 8 ? "," : "");
  }
  std::printf("\n\nThe same replay through the baseline designs (ns per access, median):\n");
  const double floor = BaselineReplay<FloorDispatch>(*accesses, *map, clock, runs);
  const struct {
    const char* name;
    double ns;
  } rows[] = {
      {FloorDispatch::kName, floor},
      {RwLockDispatch::kName, BaselineReplay<RwLockDispatch>(*accesses, *map, clock, runs)},
      {SharedPtrDispatch::kName, BaselineReplay<SharedPtrDispatch>(*accesses, *map, clock, runs)},
      {MutexDispatch::kName, BaselineReplay<MutexDispatch>(*accesses, *map, clock, runs)},
  };
  for (const auto& row : rows) {
    std::printf("  %-28s %7.1f ns   IoManager / this = %.2fx\n", row.name, row.ns,
                io_median / row.ns);
  }
  std::printf("  %-28s %7.1f ns   (%.2fx the floor)\n", "IoManager (this project)", io_median,
              io_median / floor);
  return 0;
}

}  // namespace
}  // namespace dbs::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Replays a recorded boot's I/O accesses through the whole stack and the baselines.\n"
      "  ./bazelw run -c opt //benchmarks:trace_replay [-- --trace=PATH --devmap=PATH]");
  absl::ParseCommandLine(argc, argv);
  return dbs::bench::Main();
}
