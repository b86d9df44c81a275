// liburcu's QSBR flavour guarding the dispatch maps (see dispatch_designs.h).
#define _LGPL_SOURCE  // inline read-side fast paths, as a real user of liburcu would
#include <urcu/urcu-qsbr.h>

#include <atomic>

#include "benchmarks/internal/dispatch_designs.h"
#include "benchmarks/internal/urcu_baselines.h"

namespace dbs::bench {
namespace {

class UrcuQsbrDispatch : public DispatchDesignBase {
 public:
  using Maps = SpaceMaps<absl::btree_map<uint64_t, DispatchSlot>>;
  ~UrcuQsbrDispatch() { delete current_.load(); }
  void Build(const std::vector<Registration>& regs) {
    regs_ = regs;
    current_.store(new Maps(MakeMaps<Maps::value_type>(regs)), std::memory_order_release);
  }
  void ThreadEnter() { urcu_qsbr_register_thread(); }
  void ThreadLeave() { urcu_qsbr_unregister_thread(); }
  void Quiesce() { urcu_qsbr_quiescent_state(); }
  uint64_t Lookup(uint64_t address) {
    uint8_t byte = 0;
    urcu_qsbr_read_lock();
    const Maps& maps = *current_.load(std::memory_order_acquire);
    DispatchIn(maps[static_cast<size_t>(space_)], space_, false, address,
               absl::MakeSpan(&byte, 1));
    urcu_qsbr_read_unlock();
    return byte;
  }
  void Republish() {
    Maps* old = current_.load(std::memory_order_relaxed);
    Maps* next = new Maps(*old);
    Toggle(*next);
    current_.store(next, std::memory_order_release);
    urcu_qsbr_synchronize_rcu();
    delete old;
  }

 private:
  std::vector<Registration> regs_;
  std::atomic<Maps*> current_{nullptr};
};

}  // namespace

RunResult RunUrcuQsbrDispatch(AddressSpace space, const std::vector<Registration>& regs,
                              const std::vector<uint64_t>& addresses, const RunSpec& spec) {
  UrcuQsbrDispatch design;
  design.UseSpace(space);
  design.Build(regs);
  return RunLookups(design, addresses, spec);
}

}  // namespace dbs::bench
