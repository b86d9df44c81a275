// benchmarks/internal/gbench.h — the lookup and dispatch designs as Google Benchmark
// benchmarks, and what every suite's main() shares: default flags, a compact console
// report, the medians collected for the suite's own summary.
//
// A design (harness.h) becomes a registered benchmark whose iteration is one lookup or one
// dispatch, so Google Benchmark's "CPU" column is per-thread CPU ns per operation (it sums
// each thread's own CPU time and divides by the iterations of all threads). Threads come
// from ->Threads(n). Thread 0 builds the design before the timed region and starts the
// hot-plugging writer; the other threads wait for it, register (ThreadEnter) and warm up,
// untimed; Google Benchmark's start barrier then opens the timed loop for all of them. After
// the loop, thread 0 stops the writer once every thread has left (ThreadLeave). A built
// design is kept across the runs Google Benchmark makes of one benchmark (its iteration
// ramp and repetitions) and released when another benchmark builds its own, so at most one
// is alive.

#ifndef DBS_DEVICE_BENCHMARKS_INTERNAL_GBENCH_H_
#define DBS_DEVICE_BENCHMARKS_INTERNAL_GBENCH_H_

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "dbs_device/benchmarks/internal/harness.h"

namespace dbs::bench {

// What one benchmark's threads share: the design, the addresses they look up, the writer.
class SharedRunBase {
 public:
  virtual ~SharedRunBase() = default;
  // Drops the built design (another benchmark is about to build its own).
  virtual void Release() = 0;
  // Drops the design still alive, if any: call after the benchmarks ran, before exit.
  static void ReleaseCurrent() { BecomeCurrent(nullptr); }

 protected:
  // Makes `next` the one benchmark whose design is alive.
  static void BecomeCurrent(SharedRunBase* next) {
    static SharedRunBase* current = nullptr;
    if (current != nullptr && current != next) current->Release();
    current = next;
  }
};

template <typename Design>
class SharedRun final : public SharedRunBase {
 public:
  struct Built {
    std::shared_ptr<void> keep_alive;  // what the design points at (its devices)
    std::unique_ptr<Design> design;    // destroyed first
    std::vector<uint64_t> addresses;   // a power-of-two count
  };
  using Builder = std::function<Built()>;

  SharedRun(Builder build, Writer writer) : build_(std::move(build)), writer_(writer) {}

  void Release() override {
    built_.design.reset();  // before what it points at
    built_ = Built{};
  }

  // The body of the registered benchmark, run by each of its threads.
  void Run(benchmark::State& state) {
    if (state.thread_index() == 0) {
      BecomeCurrent(this);
      if (built_.design == nullptr) built_ = build_();
      StartWriter();
      ready_.store(true, std::memory_order_release);
    } else {
      while (!ready_.load(std::memory_order_acquire)) std::this_thread::yield();
    }
    Design& design = *built_.design;
    const std::vector<uint64_t>& addresses = built_.addresses;
    const size_t mask = addresses.size() - 1;
    design.ThreadEnter();
    uint64_t sum = 0;
    for (size_t w = 0; w < std::min<size_t>(addresses.size(), 1 << 14); ++w) {
      sum += design.Lookup(addresses[w]);
    }
    size_t i = static_cast<size_t>(state.thread_index()) * 977;
    uint32_t n = 0;
    for (auto _ : state) {
      sum += design.Lookup(addresses[i++ & mask]);
      if ((++n & 1023) == 0) design.Quiesce();
    }
    benchmark::DoNotOptimize(sum);
    design.ThreadLeave();
    if (state.thread_index() == 0) {
      while (left_.load(std::memory_order_acquire) < state.threads() - 1) {
        std::this_thread::yield();
      }
      const uint64_t republishes = StopWriter();
      if (writer_ != Writer::kNone) {
        state.counters["republishes"] = static_cast<double>(republishes);
      }
      left_.store(0, std::memory_order_relaxed);
      ready_.store(false, std::memory_order_relaxed);
    } else {
      left_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

 private:
  void StartWriter() {
    if (writer_ == Writer::kNone) return;
    stop_writer_.store(false);
    republishes_ = 0;
    writer_thread_ = std::thread([this] {
      Design& design = *built_.design;
      auto next = std::chrono::steady_clock::now();
      while (!stop_writer_.load(std::memory_order_relaxed)) {
        design.Republish();
        ++republishes_;
        if (writer_ == Writer::kEvery100us) {
          next += std::chrono::microseconds(100);
          std::this_thread::sleep_until(next);
        }
      }
    });
  }

  uint64_t StopWriter() {
    if (!writer_thread_.joinable()) return 0;
    stop_writer_.store(true);
    writer_thread_.join();
    return republishes_;
  }

  const Builder build_;
  const Writer writer_;
  Built built_;
  std::atomic<bool> ready_{false};
  std::atomic<int> left_{0};
  std::atomic<bool> stop_writer_{false};
  uint64_t republishes_ = 0;  // written by the writer thread, read after it is joined
  std::thread writer_thread_;
};

// Registers `name` running `Design` on `threads` threads. REQUIRES: called before main's
// benchmark::RunSpecifiedBenchmarks.
template <typename Design>
void RegisterDesign(const std::string& name, int threads, Writer writer,
                    typename SharedRun<Design>::Builder build) {
  auto run = std::make_shared<SharedRun<Design>>(std::move(build), writer);
  benchmark::RegisterBenchmark(name.c_str(), [run](benchmark::State& state) {
    run->Run(state);
  })->Threads(threads);
}

// One measured benchmark, as the summaries read it.
struct Measured {
  double cpu_ns = 0;   // median over repetitions of CPU time per iteration (per thread)
  double real_ns = 0;  // the same in wall time
  std::map<std::string, double> counters;  // the benchmark's counters (medians)
};

// Google Benchmark's console report cut to one line per benchmark (the median when there
// are repetitions), keeping every benchmark's median for the summary printed afterwards.
// --benchmark_format and --benchmark_out are unaffected: they report everything.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  // Colours only on a terminal.
  CollectingReporter() : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> shown;
    for (const Run& run : runs) {
      if (run.error_occurred) {
        shown.push_back(run);
        continue;
      }
      // "name/threads:2" without the aggregate's suffix.
      const std::string name = run.run_name.str();
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name == "median") {
          Keep(name, run);
          shown.push_back(run);
        }
      } else if (run.repetitions <= 1) {
        Keep(name, run);
        shown.push_back(run);
      }
    }
    if (!shown.empty()) ConsoleReporter::ReportRuns(shown);
  }

  // The median CPU time per iteration of `name` (as Google Benchmark names it,
  // "/threads:N" included), in the benchmark's time unit; -1 if it did not run.
  double NsOf(const std::string& name) const {
    auto it = results_.find(name);
    return it == results_.end() ? -1 : it->second.cpu_ns;
  }
  // The same in wall time.
  double RealNsOf(const std::string& name) const {
    auto it = results_.find(name);
    return it == results_.end() ? -1 : it->second.real_ns;
  }
  // The first result whose name starts with `prefix` (for names with arguments), or null.
  const Measured* Find(const std::string& prefix) const {
    auto it = results_.lower_bound(prefix);
    return it != results_.end() && it->first.rfind(prefix, 0) == 0 ? &it->second : nullptr;
  }

 private:
  void Keep(const std::string& name, const Run& run) {
    Measured& m = results_[name];
    m.cpu_ns = run.GetAdjustedCPUTime();
    m.real_ns = run.GetAdjustedRealTime();
    for (const auto& [key, counter] : run.counters) m.counters[key] = counter.value;
  }

  std::map<std::string, Measured> results_;
};

// Runs every registered benchmark that the filter selects (Google Benchmark's report as it
// goes, and --benchmark_out if given) and returns their medians. A design still built is
// dropped before returning, while everything it uses is still alive.
inline std::unique_ptr<CollectingReporter> RunBenchmarks() {
  auto reporter = std::make_unique<CollectingReporter>();
  benchmark::RunSpecifiedBenchmarks(reporter.get());
  SharedRunBase::ReleaseCurrent();
  return reporter;
}

// Options every suite takes besides Google Benchmark's own flags.
struct SuiteOptions {
  bool quick = false;                         // --quick: a smoke run
  std::map<std::string, std::string> values;  // --NAME=VALUE for the suite's own flags
};

// A flag of a suite's own, taking a value: --name=VALUE.
struct SuiteFlag {
  const char* name;
  const char* help;
};

// Parses the command line: --quick, the suite's `flags`, and Google Benchmark's flags.
// Unless given, repetitions default to `repetitions` (1 with --quick) and the minimum time
// per benchmark to `min_time` seconds (0.002 with --quick). `usage` is printed by --help
// above the flags. Exits with status 2 on an unknown flag.
inline SuiteOptions ParseSuiteFlags(int* argc, char** argv, const char* usage, int repetitions,
                                    double min_time, std::vector<SuiteFlag> flags = {}) {
  static const char* help_text = nullptr;
  static std::vector<SuiteFlag> help_flags;
  help_text = usage;
  help_flags = flags;
  SuiteOptions options;
  std::vector<char*> args;
  bool has_repetitions = false, has_min_time = false;
  for (int i = 0; i < *argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick" || arg == "--quick=true") {
      options.quick = true;
      continue;
    }
    if (arg == "--quick=false") continue;
    bool ours = false;
    for (const SuiteFlag& flag : flags) {
      const std::string prefix = std::string("--") + flag.name + "=";
      if (arg.rfind(prefix, 0) == 0) {
        options.values[flag.name] = arg.substr(prefix.size());
        ours = true;
      }
    }
    if (ours) continue;
    has_repetitions |= arg.rfind("--benchmark_repetitions", 0) == 0;
    has_min_time |= arg.rfind("--benchmark_min_time", 0) == 0;
    args.push_back(argv[i]);
  }
  static std::string repetitions_flag, min_time_flag;
  static std::string aggregates_flag = "--benchmark_display_aggregates_only=true";
  if (!has_repetitions) {
    repetitions_flag = "--benchmark_repetitions=" + std::to_string(options.quick ? 1 : repetitions);
    args.insert(args.begin() + 1, repetitions_flag.data());
  }
  if (!has_min_time) {
    min_time_flag = "--benchmark_min_time=" + std::to_string(options.quick ? 0.002 : min_time);
    args.insert(args.begin() + 1, min_time_flag.data());
  }
  args.insert(args.begin() + 1, aggregates_flag.data());
  static std::vector<char*> storage;
  storage = args;
  storage.push_back(nullptr);
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, storage.data(), [] {
    std::printf(
        "%s\n\nFlags of this suite:\n  --quick  a smoke run: one short repetition of each "
        "benchmark, no verdicts\n",
        help_text);
    for (const SuiteFlag& flag : help_flags) std::printf("  --%s=...  %s\n", flag.name, flag.help);
    std::printf("\nGoogle Benchmark's flags:\n");
    benchmark::PrintDefaultHelp();
  });
  if (benchmark::ReportUnrecognizedArguments(count, storage.data())) std::exit(2);
  return options;
}

// A verdict line: "  met      <what>: <figure>" or "  NOT MET  ...".
inline void PrintVerdict(bool met, const std::string& what, const std::string& figure) {
  std::printf("  %-8s %s: %s\n", met ? "met" : "NOT MET", what.c_str(), figure.c_str());
}

}  // namespace dbs::bench

#endif  // DBS_DEVICE_BENCHMARKS_INTERNAL_GBENCH_H_
