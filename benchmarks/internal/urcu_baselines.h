// benchmarks/internal/urcu_baselines.h — liburcu (Debian liburcu-dev 0.13) guarding the same
// btree snapshots as IoBus: the QSBR flavour (readers register and report a quiescent state
// every 1024 lookups) and the memb flavour (registered readers, membarrier-based). Each
// flavour lives in its own translation unit because their headers define the same macros.
// Benchmark-only: the library never depends on liburcu.

#ifndef DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_BASELINES_H_
#define DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_BASELINES_H_

#include <cstdint>
#include <vector>

#include "benchmarks/internal/harness.h"
#include "bus/io_bus.h"

namespace dbs::bench {

inline constexpr const char* kUrcuQsbrName = "liburcu qsbr + btree";
inline constexpr const char* kUrcuMembName = "liburcu memb + btree";

RunResult RunUrcuQsbr(const std::vector<BenchRange>& ranges,
                      const std::vector<uint64_t>& addresses, const RunSpec& spec);
RunResult RunUrcuMemb(const std::vector<BenchRange>& ranges,
                      const std::vector<uint64_t>& addresses, const RunSpec& spec);

// Dispatch to DeviceIo devices (dispatch_designs.h) under liburcu's QSBR flavour.
struct Registration;
RunResult RunUrcuQsbrDispatch(AddressSpace space, const std::vector<Registration>& regs,
                              const std::vector<uint64_t>& addresses, const RunSpec& spec);

}  // namespace dbs::bench

#endif  // DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_BASELINES_H_
