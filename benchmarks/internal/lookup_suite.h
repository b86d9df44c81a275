// benchmarks/internal/lookup_suite.h — what the dispatch and bus_bench suites share: a
// table of designs (columns), the cases (rows), the benchmark names, and the summary table
// of ratios to the floor printed from Google Benchmark's results.
//
// Benchmarks are named <suite>/<space>/<ranges>/<random|repeated>/<writer>/<design>/
// threads:<n>, where <writer> is idle, hotplug (a change every 100 µs) or hotplug_b2b
// (changes back to back), so --benchmark_filter can pick any slice.

#ifndef DBS_DEVICE_BENCHMARKS_INTERNAL_LOOKUP_SUITE_H_
#define DBS_DEVICE_BENCHMARKS_INTERNAL_LOOKUP_SUITE_H_

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "dbs_device/benchmarks/internal/designs.h"
#include "dbs_device/benchmarks/internal/gbench.h"

namespace dbs::bench {

// One column of a suite: a design and how to register it for a case.
struct DesignColumn {
  const char* key;    // in benchmark names
  const char* label;  // the summary's column, 7 characters at most
  const char* what;   // the legend under the summary
  bool writer_safe;   // false for the floor: no rows with a writer
  void (*add)(const std::string& name, const LookupCase& c);
};

inline const char* WriterKey(Writer writer) {
  switch (writer) {
    case Writer::kNone:
      return "idle";
    case Writer::kEvery100us:
      return "hotplug";
    case Writer::kBackToBack:
      return "hotplug_b2b";
  }
  return "";
}

// The name Google Benchmark reports for `column` in case `c` of `suite`.
inline std::string ResultName(const char* suite, const LookupCase& c, const DesignColumn& column) {
  return absl::StrFormat("%s/%s/%d/%s/%s/%s/threads:%d", suite, AddressSpaceName(c.space), c.ranges,
                         c.random ? "random" : "repeated", WriterKey(c.writer), column.key,
                         c.threads);
}

// Registers every column for every case (columns that are not writer-safe only without
// a writer).
inline void RegisterSuite(const char* suite, const std::vector<LookupCase>& cases,
                          const std::vector<DesignColumn>& columns) {
  for (const LookupCase& c : cases) {
    for (const DesignColumn& column : columns) {
      if (c.writer != Writer::kNone && !column.writer_safe) continue;
      std::string name = ResultName(suite, c, column);
      name.resize(name.rfind("/threads:"));  // Google Benchmark appends it
      column.add(name, c);
    }
  }
}

// The same case without its writer, or with another thread count.
inline LookupCase Idle(LookupCase c) {
  c.writer = Writer::kNone;
  return c;
}
inline LookupCase WithThreads(LookupCase c, int threads) {
  c.threads = threads;
  return c;
}

// Prints one row per case that ran: the floor (column 0) in ns, every other column as a
// ratio to the floor of the same case without its writer; then the legend. Lower is better.
inline void PrintRatioTable(const char* suite, const std::vector<LookupCase>& cases,
                            const std::vector<DesignColumn>& columns,
                            const CollectingReporter& results) {
  std::printf("%-19s", "case");
  for (const DesignColumn& column : columns) std::printf(" %7s", column.label);
  std::printf("\n");
  for (const LookupCase& c : cases) {
    const double floor = results.NsOf(ResultName(suite, Idle(c), columns[0]));
    std::vector<double> ns;
    bool any = false;
    for (size_t d = 0; d < columns.size(); ++d) {
      ns.push_back(results.NsOf(ResultName(suite, c, columns[d])));
      any |= d > 0 && ns.back() >= 0;
    }
    if (!any) continue;
    const char* writer = c.writer == Writer::kNone         ? ""
                         : c.writer == Writer::kEvery100us ? " +hp"
                                                           : " b2b";
    std::printf("%-19s",
                absl::StrFormat("%s%d %s %dT%s", c.space == AddressSpace::kPio ? "PIO " : "",
                                c.ranges, c.random ? "rand" : "rep", c.threads, writer)
                    .c_str());
    for (size_t d = 0; d < columns.size(); ++d) {
      if (ns[d] < 0) {
        std::printf(" %7s", "-");
      } else if (d == 0) {
        std::printf(" %7.1f", ns[d]);
      } else if (floor > 0) {
        std::printf(" %7.2f", ns[d] / floor);
      } else {
        std::printf(" %7s", "?");
      }
    }
    std::printf("\n");
  }
  std::printf("\nKeys (columns after the first are ratios to it; lower is better):");
  for (const DesignColumn& column : columns) std::printf("\n  %-7s %s", column.label, column.what);
  std::printf(
      "\n  rows: ranges (MMIO unless PIO), rand = random addresses, rep = one repeated "
      "address\n  (a polled register), threads, +hp = a writer hot-plugging every 100 us, "
      "b2b = back to back\n");
}

}  // namespace dbs::bench

#endif  // DBS_DEVICE_BENCHMARKS_INTERNAL_LOOKUP_SUITE_H_
