// trace_replay: a real Linux boot, replayed through the whole stack, as a Google Benchmark
// binary.
//
//   ./bazelw run -c opt //benchmarks:trace_replay
//   ./bazelw run -c opt //benchmarks:trace_replay -- --trace=PATH --devmap=PATH
//
// Builds a machine from a device map (this project's 16550A at the "serial" range, its
// i8042 at "i8042-data"/"i8042-cmd", its RTC at "rtc", and a counting dummy device for every
// other name), places every device through DeviceManager (exact windows from a
// ResourceManager spanning both address spaces), then dispatches every access of the trace,
// in order, through IoManager. Accesses that hit no device are answered with all ones, as a
// PC's floating bus does. The same replay then runs through the peers' designs on fresh
// devices. One iteration is one whole replay (the machine is built and destroyed outside the
// timed region); ns_per_access is the CPU time per access. Afterwards one more replay
// through the whole stack compares every read of the emulated devices with the value the
// trace recorded. Default: the bundled pc trace (Linux 6.1 under QEMU).

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "dbs_device/benchmarks/internal/designs.h"
#include "dbs_device/benchmarks/internal/gbench.h"
#include "dbs_device/devices/cmos_rtc.h"
#include "dbs_device/devices/dummy.h"
#include "dbs_device/devices/i8042.h"
#include "dbs_device/devices/serial16550.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/resources/resource_manager.h"
#include "dbs_device/testing/boot_trace.h"

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
  uint64_t accesses = 0;
  uint64_t unclaimed = 0;
  std::map<std::string, uint64_t> per_device;                     // accesses by device
  std::map<std::string, std::pair<uint64_t, uint64_t>> compared;  // reads, differing
  std::vector<std::string> first_differences;
};

// What a replay answered: each read's value, and whether a device took each access.
struct Answers {
  std::vector<uint64_t> values;
  std::vector<bool> found;
};

// Replays `accesses` through `dispatch(space, write, address, data) -> found`, keeping each
// answer; the accounting (Account) runs afterwards, outside any timing.
template <typename Dispatch>
void ReplayInto(const std::vector<trace::Access>& accesses, Machine& machine, Dispatch&& dispatch,
                Answers& out) {
  out.values.assign(accesses.size(), 0);
  out.found.assign(accesses.size(), false);
  uint8_t buffer[8];
  for (size_t n = 0; n < accesses.size(); ++n) {
    const trace::Access& a = accesses[n];
    machine.line = a.line;
    const AddressSpace space = a.pio ? AddressSpace::kPio : AddressSpace::kMmio;
    for (uint8_t i = 0; i < a.size; ++i) {
      buffer[i] = a.write ? static_cast<uint8_t>(a.value >> (8 * i)) : 0;
    }
    const bool hit = dispatch(space, a.write, a.address, absl::MakeSpan(buffer, a.size));
    out.found[n] = hit;
    if (!hit && !a.write) std::fill(buffer, buffer + a.size, 0xff);  // a floating bus
    uint64_t answer = 0;
    for (uint8_t i = 0; i < a.size; ++i) answer |= uint64_t{buffer[i]} << (8 * i);
    out.values[n] = answer;
  }
}

// Which device took each access, and which reads differ from the trace.
ReplayStats Account(const std::vector<trace::Access>& accesses, const Machine& machine,
                    const Answers& answers) {
  const std::vector<uint64_t>& values = answers.values;
  const std::vector<bool>& found = answers.found;
  ReplayStats stats;
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
    if (values[n] != a.value) {
      ++compared[owner].second;
      if (stats.first_differences.size() < 10) {
        stats.first_differences.push_back(
            absl::StrFormat("line %u: %s read at %#x gave %#x, the trace %#x", a.line,
                            machine.devices[owner].name, a.address, values[n], a.value));
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

std::vector<Placement<DeviceIo>> PlacementsOf(const Machine& machine) {
  std::vector<Placement<DeviceIo>> out;
  for (const MachineDevice& d : machine.devices) {
    for (const trace::MapRange& r : d.ranges) {
      out.push_back(
          {r.pio ? AddressSpace::kPio : AddressSpace::kMmio, r.base, r.size, d.device.get()});
    }
  }
  return out;
}

// The whole stack for one replay: the machine placed through DeviceManager into IoManager.
struct WholeStack {
  explicit WholeStack(std::unique_ptr<Machine> m) : machine(std::move(m)) {
    for (MachineDevice& d : machine->devices) {
      absl::StatusOr<DeviceId> id = devices.AddDevice(d.device);
      if (!id.ok()) {
        std::fprintf(stderr, "trace_replay: placing %s: %s\n", d.name.c_str(),
                     id.status().ToString().c_str());
        std::exit(1);
      }
    }
  }
  bool Dispatch(AddressSpace space, bool write, uint64_t address, absl::Span<uint8_t> data) {
    return DispatchThrough(io, space, write, address, data);
  }
  static ResourceManagerConfig Config() {
    ResourceManagerConfig config;
    config.pio = {0, 0xffff};
    config.mmio = {{0, ~uint64_t{0}}};
    return config;
  }
  std::unique_ptr<Machine> machine;
  ResourceManager resources{Config()};
  IoManager io;
  DeviceManager devices{resources, io};
};

// A peer's design holding a fresh machine's devices.
template <typename Design>
struct PeerStack {
  explicit PeerStack(std::unique_ptr<Machine> m) : machine(std::move(m)) {
    design.Build(PlacementsOf(*machine));
  }
  bool Dispatch(AddressSpace space, bool write, uint64_t address, absl::Span<uint8_t> data) {
    return design.Dispatch(space, write, address, data);
  }
  std::unique_ptr<Machine> machine;
  Design design;
};

struct Input {
  std::vector<trace::Access> accesses;
  trace::DeviceMap map;
  std::optional<trace::RecordedClock> clock;
};

// One whole replay per iteration through `Stack`; building and destroying it is not timed.
template <typename Stack>
void BM_Replay(benchmark::State& state, const Input* input) {
  Answers answers;
  for (auto _ : state) {
    state.PauseTiming();
    {
      auto stack = std::make_unique<Stack>(BuildMachine(input->map, input->clock));
      state.ResumeTiming();
      ReplayInto(
          input->accesses, *stack->machine,
          [&](AddressSpace space, bool write, uint64_t address, absl::Span<uint8_t> data) {
            return stack->Dispatch(space, write, address, data);
          },
          answers);
      state.PauseTiming();
    }
    state.ResumeTiming();
  }
  state.counters["ns_per_access"] =
      benchmark::Counter(double(input->accesses.size()) * double(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

struct Row {
  const char* key;
  const char* what;
};
constexpr Row kRows[] = {
    {"io_manager_whole_stack", "IoManager, devices placed by DeviceManager (this project)"},
    {"floor", "absl::btree_map, no protection (the floor)"},
    {"rwlock_map", "shared_mutex + std::map (the original crate's RwLock)"},
    {"arcswap", "atomic<shared_ptr<map>> (Dragonball's ArcSwap)"},
    {"mutex_btree", "std::mutex + absl::btree_map"},
};

void Register(const Input* input) {
  auto add = [](const char* key, void (*body)(benchmark::State&, const Input*), const Input* in) {
    benchmark::RegisterBenchmark(absl::StrFormat("replay/%s", key).c_str(), body, in)
        ->Unit(benchmark::kMillisecond);
  };
  add(kRows[0].key, BM_Replay<WholeStack>, input);
  add(kRows[1].key, BM_Replay<PeerStack<FloorDesign<DeviceIoTarget>>>, input);
  add(kRows[2].key, BM_Replay<PeerStack<RwLockDesign<DeviceIoTarget>>>, input);
  add(kRows[3].key, BM_Replay<PeerStack<ArcSwapDesign<DeviceIoTarget>>>, input);
  add(kRows[4].key, BM_Replay<PeerStack<MutexDesign<DeviceIoTarget>>>, input);
}

// The summary: cost per access by design, then the correctness of one more replay.
void PrintSummary(const Input& input, const CollectingReporter& results,
                  const SuiteOptions& options) {
  std::printf("\nReplay of %zu accesses: CPU ns per access, median. Lower is better.\n\n",
              input.accesses.size());
  auto ns_of = [&](const char* key) {
    const double ms = results.NsOf(absl::StrFormat("replay/%s", key));
    return ms < 0 ? -1.0 : ms * 1e6 / double(input.accesses.size());
  };
  const double floor = ns_of("floor");
  for (const Row& row : kRows) {
    const double ns = ns_of(row.key);
    if (ns < 0) continue;
    std::printf("  %-58s %6.1f ns  %5.2fx the floor\n", row.what, ns, ns / floor);
  }

  // One more replay through the whole stack, for its answers.
  WholeStack stack(BuildMachine(input.map, input.clock));
  Answers answers;
  ReplayInto(
      input.accesses, *stack.machine,
      [&](AddressSpace space, bool write, uint64_t address, absl::Span<uint8_t> data) {
        return stack.Dispatch(space, write, address, data);
      },
      answers);
  const ReplayStats stats = Account(input.accesses, *stack.machine, answers);
  std::printf(
      "\nThe whole stack's answers against the trace: %zu devices placed; %llu accesses "
      "hit no device\n(answered all-ones)\n",
      stack.machine->devices.size(), static_cast<unsigned long long>(stats.unclaimed));
  uint64_t differing = 0;
  for (const auto& [name, c] : stats.compared) {
    std::printf("  %-8s reads compared with the trace: %llu, differing: %llu\n", name.c_str(),
                static_cast<unsigned long long>(c.first),
                static_cast<unsigned long long>(c.second));
    differing += c.second;
  }
  for (const std::string& d : stats.first_differences) std::printf("    %s\n", d.c_str());
  std::printf("  serial console: %zu bytes; i8042 reset requests: %d\n",
              stack.machine->console.size(), stack.machine->resets);
  std::vector<std::pair<uint64_t, std::string>> busiest;
  for (const auto& [name, n] : stats.per_device) busiest.push_back({n, name});
  std::sort(busiest.rbegin(), busiest.rend());
  std::printf("  accesses by device:");
  for (size_t i = 0; i < busiest.size() && i < 8; ++i) {
    std::printf("%s %s %llu%s", i == 4 ? "\n   " : "", busiest[i].second.c_str(),
                static_cast<unsigned long long>(busiest[i].first), i + 1 < 8 ? "," : "");
  }
  std::printf("\n\nVerdicts:\n");
  PrintVerdict(differing == 0, "every read of the emulated devices equals QEMU's",
               absl::StrFormat("%llu differing", static_cast<unsigned long long>(differing)));
  if (options.quick) {
    std::printf("A smoke run (--quick): timings too short to be read; no speed verdict.\n");
    return;
  }
  const double whole = ns_of(kRows[0].key);
  if (whole > 0 && floor > 0) {
    PrintVerdict(whole <= floor, "the whole stack at or below the unprotected floor",
                 absl::StrFormat("%.2fx", whole / floor));
  }
}

}  // namespace
}  // namespace dbs::bench

int main(int argc, char** argv) {
  using namespace dbs;
  using namespace dbs::bench;
  const SuiteOptions options = ParseSuiteFlags(
      &argc, argv,
      "trace_replay: a recorded boot's I/O accesses replayed through the whole stack and the "
      "peers' designs.\n"
      "  ./bazelw run -c opt //benchmarks:trace_replay [-- --trace=PATH --devmap=PATH]",
      /*repetitions=*/5, /*min_time=*/0.2,
      {{"trace", "a trace to replay (default: the bundled Linux boot)"},
       {"devmap", "the device map for --trace"}});
  std::string trace_path = options.values.contains("trace") ? options.values.at("trace") : "";
  std::string map_path = options.values.contains("devmap") ? options.values.at("devmap") : "";
  if (trace_path.empty() != map_path.empty()) {
    std::fprintf(stderr, "trace_replay: --trace and --devmap go together\n");
    return 2;
  }
  if (trace_path.empty()) {
    trace_path = trace::RunfilePath("testing/traces/pc.trace.gz");
    map_path = trace::RunfilePath("testing/traces/pc.devmap");
  }
  absl::StatusOr<std::vector<trace::Access>> accesses = trace::LoadTrace(trace_path);
  absl::StatusOr<trace::DeviceMap> map = trace::LoadDeviceMap(map_path);
  if (!accesses.ok() || !map.ok()) {
    std::fprintf(stderr, "trace_replay: %s\n",
                 (!accesses.ok() ? accesses.status() : map.status()).ToString().c_str());
    return 1;
  }
  Input input{*std::move(accesses), *std::move(map), std::nullopt};
  input.clock = trace::InferRtcClock(input.accesses);
  std::printf("trace_replay: %s (%zu accesses), map %s (%zu ranges after flattening)\n",
              trace_path.c_str(), input.accesses.size(), map_path.c_str(), input.map.ranges.size());
  for (const std::string& note : input.map.notes) std::printf("  map: %s\n", note.c_str());
  if (input.clock.has_value()) {
    std::printf(
        "  RTC clock from the trace: %s, %.1f us per access\n",
        absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", input.clock->start, absl::UTCTimeZone()).c_str(),
        absl::ToDoubleMicroseconds(input.clock->per_line));
  } else {
    std::printf("  RTC clock: the host's (the trace shows no RTC time)\n");
  }
  Register(&input);
  PrintSummary(input, *RunBenchmarks(), options);
  benchmark::Shutdown();
  return 0;
}
