// benchmarks/internal/urcu_baselines.h — liburcu (Debian liburcu-dev 0.13) as a peer: its
// QSBR flavour (readers register and report a quiescent state every 1024 lookups) and memb
// flavour (registered readers, membarrier-based) guarding btree snapshots, and its
// bulletproof flavour (no registration, like ours) guarding IoBus's own index. Each
// flavour lives in its own translation unit because their headers define the same macros,
// so each registers its own Google Benchmark benchmarks (gbench.h).
// Benchmark-only: the library never depends on liburcu.

#ifndef DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_BASELINES_H_
#define DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_BASELINES_H_

#include <string>

#include "benchmark/benchmark.h"

#include "dbs_device/benchmarks/internal/designs.h"

namespace dbs::bench {

// Lookups calling BenchDevice (bus_bench), in case `c`, registered as `name`.
void RegisterUrcuQsbrLookup(const std::string& name, const LookupCase& c);
void RegisterUrcuMembLookup(const std::string& name, const LookupCase& c);
// liburcu's bulletproof flavour guarding IoBus's own persistent tree.
void RegisterUrcuBpLookup(const std::string& name, const LookupCase& c);
// Dispatch to DeviceIo devices (the dispatch benchmark) under the QSBR flavour.
void RegisterUrcuQsbrDispatch(const std::string& name, const LookupCase& c);

// An empty urcu-bp read section per iteration (Google Benchmark's body).
void UrcuBpEmptySections(benchmark::State& state);

}  // namespace dbs::bench

#endif  // DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_BASELINES_H_
