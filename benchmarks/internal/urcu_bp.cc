// liburcu's bulletproof flavour guarding IoBus's own index: readers need no registration
// (like ours), so the comparison with IoBus isolates the read-side RCU itself.
#define _LGPL_SOURCE  // inline read-side fast paths, as a real user of liburcu would
#include <urcu/urcu-bp.h>

#include "dbs_device/benchmarks/internal/designs.h"
#include "dbs_device/benchmarks/internal/urcu_baselines.h"

namespace dbs::bench {
namespace {

// The same persistent tree as IoBusDesign<BenchTarget>. Readers look up in the generation
// the writer last announced, inside urcu-bp's read section instead of ours; the writer waits
// for urcu-bp's grace period before the change's retired nodes go to the bus's domain, so
// nothing a urcu-bp reader can reach is freed (no ReadSection is ever open, so the domain
// frees them at its next poll).
class UrcuBpIoBusDesign : public Design<UrcuBpIoBusDesign, BenchTarget> {
 public:
  using Bus = IoBusDesign<BenchTarget>::Bus;
  void Build(const std::vector<Placement<BenchDevice>>& ranges) {
    Bus::Transaction batch;
    for (const Placement<BenchDevice>& r : ranges) {
      batch.Register(BusRange{r.space, r.base, r.size}, r.device);
    }
    if (!bus_.Apply(std::move(batch)).ok()) std::abort();
    Announce();
  }
  template <typename Found>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Find(AddressSpace space, uint64_t address, size_t length,
                                         Found&& found) {
    urcu_bp_read_lock();
    const Bus::Generation* snapshot = rcu_dereference(published_);
    const auto hit = snapshot->Find(space, address, length);
    if (hit.ok()) found(**hit.hot, address - hit.offset, hit.offset);
    urcu_bp_read_unlock();
    return hit.ok();
  }
  void Republish() {
    const BusRange toggle{space_, kHotplugBase, 8};
    Bus::Transaction remove;
    remove.Unregister(toggle);
    Bus::Publication change = bus_.Publish(std::move(remove));
    if (!change.ok()) {
      Bus::Transaction insert;
      insert.Register(toggle, &hotplug_device_);
      change = bus_.Publish(std::move(insert));
    }
    Announce();
    urcu_bp_synchronize_rcu();
    change.Finish();
  }

 private:
  void Announce() {
    ReadSection section;  // the writer's own: it is the only thread using ours
    rcu_assign_pointer(published_, &bus_.Current(section));
  }

  Bus bus_;
  const Bus::Generation* published_ = nullptr;
};

}  // namespace

void UrcuBpEmptySections(benchmark::State& state) {
  for (auto _ : state) {
    urcu_bp_read_lock();
    benchmark::ClobberMemory();
    urcu_bp_read_unlock();
  }
}

void RegisterUrcuBpLookup(const std::string& name, const LookupCase& c) {
  RegisterCase<UrcuBpIoBusDesign, BenchTarget>(name, c);
}

}  // namespace dbs::bench
