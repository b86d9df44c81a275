// liburcu's QSBR flavour: readers register and report quiescent states (urcu_design.h).
#define _LGPL_SOURCE  // inline read-side fast paths, as a real user of liburcu would
#include <urcu/urcu-qsbr.h>

#include "benchmarks/internal/urcu_design.h"
#include "dbs_device/benchmarks/internal/urcu_baselines.h"

namespace dbs::bench {
namespace {

struct Qsbr {
  static void ReadLock() { urcu_qsbr_read_lock(); }
  static void ReadUnlock() { urcu_qsbr_read_unlock(); }
  static void RegisterThread() { urcu_qsbr_register_thread(); }
  static void UnregisterThread() { urcu_qsbr_unregister_thread(); }
  static void QuiescentState() { urcu_qsbr_quiescent_state(); }
  static void SynchronizeRcu() { urcu_qsbr_synchronize_rcu(); }
};

}  // namespace

void RegisterUrcuQsbrLookup(const std::string& name, const LookupCase& c) {
  RegisterCase<UrcuDesign<Qsbr, BenchTarget>, BenchTarget>(name, c);
}

void RegisterUrcuQsbrDispatch(const std::string& name, const LookupCase& c) {
  RegisterCase<UrcuDesign<Qsbr, DeviceIoTarget>, DeviceIoTarget>(name, c);
}

}  // namespace dbs::bench
