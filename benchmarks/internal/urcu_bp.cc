// liburcu's bulletproof flavour guarding IoBus's own index: readers need no registration
// (like ours), so the comparison with IoBus isolates the read-side RCU itself.
#define _LGPL_SOURCE  // inline read-side fast paths, as a real user of liburcu would
#include <urcu/urcu-bp.h>

#include "dbs_device/benchmarks/internal/baselines.h"
#include "dbs_device/benchmarks/internal/urcu_baselines.h"

namespace dbs::bench {
namespace {

// The same persistent tree as IoBusDesign. Readers look up in the generation the writer
// last announced, inside urcu-bp's read section instead of ours; the writer waits for
// urcu-bp's grace period before the change's retired nodes go to the bus's domain, so
// nothing a urcu-bp reader can reach is freed (no ReadSection is ever open, so the domain
// frees them at its next poll).
class UrcuBpIoBusDesign : public DesignBase {
 public:
  using Bus = IoBus<BenchDevice*>;
  void Build(const std::vector<BenchRange>& ranges) {
    Bus::Batch batch;
    for (const BenchRange& r : ranges) {
      batch.Insert(BusRange{AddressSpace::kMmio, r.base, r.size}, r.device);
    }
    if (!bus_.Apply(std::move(batch)).ok()) std::abort();
    Announce();
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE uint64_t Lookup(uint64_t address) {
    urcu_bp_read_lock();
    const Bus::Snapshot* snapshot = rcu_dereference(published_);
    BusLookup<BenchDevice*> hit = snapshot->Find(AddressSpace::kMmio, address, 1);
    const uint64_t answer = hit.ok() ? hit.entry->value->Read(hit.offset) : 0;
    urcu_bp_read_unlock();
    return answer;
  }
  void Republish() {
    const BusRange toggle{AddressSpace::kMmio, kToggleBase, 8};
    Bus::Batch remove;
    remove.Remove(toggle);
    Bus::Change change = bus_.Commit(std::move(remove));
    if (!change.ok()) {
      Bus::Batch insert;
      insert.Insert(toggle, &toggle_device_);
      change = bus_.Commit(std::move(insert));
    }
    Announce();
    urcu_bp_synchronize_rcu();
    change.Finish();
  }

 private:
  void Announce() {
    ReadSection section;  // the writer's own: it is the only thread using ours
    rcu_assign_pointer(published_, &bus_.snapshot(section));
  }

  Bus bus_;
  const Bus::Snapshot* published_ = nullptr;
};

}  // namespace

double UrcuBpEmptySectionNs(int sections) {
  const int64_t start = ThreadCpuNanos();
  for (int i = 0; i < sections; ++i) {
    urcu_bp_read_lock();
    std::atomic_signal_fence(std::memory_order_seq_cst);
    urcu_bp_read_unlock();
  }
  return double(ThreadCpuNanos() - start) / sections;
}

RunResult RunUrcuBp(const std::vector<BenchRange>& ranges, const std::vector<uint64_t>& addresses,
                    const RunSpec& spec) {
  UrcuBpIoBusDesign design;
  design.Build(ranges);
  return RunLookups(design, addresses, spec);
}

}  // namespace dbs::bench
