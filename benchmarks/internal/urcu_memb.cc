// liburcu's memb flavour: registered readers, membarrier-based (urcu_design.h).
#define _LGPL_SOURCE  // inline read-side fast paths, as a real user of liburcu would
#include <urcu/urcu-memb.h>

#include "benchmarks/internal/urcu_design.h"
#include "dbs_device/benchmarks/internal/urcu_baselines.h"

namespace dbs::bench {
namespace {

struct Memb {
  static void ReadLock() { urcu_memb_read_lock(); }
  static void ReadUnlock() { urcu_memb_read_unlock(); }
  static void RegisterThread() { urcu_memb_register_thread(); }
  static void UnregisterThread() { urcu_memb_unregister_thread(); }
  static void QuiescentState() {}  // memb readers need none
  static void SynchronizeRcu() { urcu_memb_synchronize_rcu(); }
};

}  // namespace

void RegisterUrcuMembLookup(const std::string& name, const LookupCase& c) {
  RegisterCase<UrcuDesign<Memb, BenchTarget>, BenchTarget>(name, c);
}

}  // namespace dbs::bench
