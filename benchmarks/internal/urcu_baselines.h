// benchmarks/internal/urcu_baselines.h — liburcu (Debian liburcu-dev 0.13) as a peer: its
// QSBR flavour (readers register and report a quiescent state every 1024 lookups) and memb
// flavour (registered readers, membarrier-based) guarding btree snapshots, and its
// bulletproof flavour (no registration, like ours) guarding IoBus's own index. Each
// flavour lives in its own translation unit because their headers define the same macros.
// Benchmark-only: the library never depends on liburcu.

#ifndef DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_BASELINES_H_
#define DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_BASELINES_H_

#include <cstdint>
#include <vector>

#include "dbs_device/benchmarks/internal/harness.h"
#include "dbs_device/bus/io_bus.h"

namespace dbs::bench {

inline constexpr const char* kUrcuQsbrName = "liburcu qsbr + btree";
inline constexpr const char* kUrcuMembName = "liburcu memb + btree";
inline constexpr const char* kUrcuBpName = "liburcu bp + IoBus index";

RunResult RunUrcuQsbr(const std::vector<BenchRange>& ranges, const std::vector<uint64_t>& addresses,
                      const RunSpec& spec);
RunResult RunUrcuMemb(const std::vector<BenchRange>& ranges, const std::vector<uint64_t>& addresses,
                      const RunSpec& spec);
// liburcu's bulletproof flavour (no registration) guarding IoBus's own persistent tree.
RunResult RunUrcuBp(const std::vector<BenchRange>& ranges, const std::vector<uint64_t>& addresses,
                    const RunSpec& spec);
// CPU ns of an empty urcu-bp read section, over `sections` of them.
double UrcuBpEmptySectionNs(int sections);

// Dispatch to DeviceIo devices (dispatch_designs.h) under liburcu's QSBR flavour.
struct Registration;
RunResult RunUrcuQsbrDispatch(AddressSpace space, const std::vector<Registration>& regs,
                              const std::vector<uint64_t>& addresses, const RunSpec& spec);

}  // namespace dbs::bench

#endif  // DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_BASELINES_H_
