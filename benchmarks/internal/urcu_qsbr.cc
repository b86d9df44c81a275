// liburcu's qsbr flavour guarding absl::btree_map snapshots (see urcu_baselines.h).
#define _LGPL_SOURCE  // inline read-side fast paths, as a real user of liburcu would
#include <urcu/urcu-qsbr.h>

#include <atomic>

#include "benchmarks/internal/baselines.h"
#include "benchmarks/internal/urcu_baselines.h"

namespace dbs::bench {
namespace {

class UrcuQsbrDesign : public DesignBase {
 public:
  using Map = absl::btree_map<uint64_t, MapSlot>;
  ~UrcuQsbrDesign() { delete current_.load(); }
  void Build(const std::vector<BenchRange>& ranges) {
    current_.store(new Map(MakeMap<Map>(ranges)), std::memory_order_release);
  }
  void ThreadEnter() { urcu_qsbr_register_thread(); }
  void ThreadLeave() { urcu_qsbr_unregister_thread(); }
  void Quiesce() { urcu_qsbr_quiescent_state(); }
  uint64_t Lookup(uint64_t address) {
    urcu_qsbr_read_lock();
    const uint64_t answer = FindAndCall(*current_.load(std::memory_order_acquire), address);
    urcu_qsbr_read_unlock();
    return answer;
  }
  void Republish() {
    Map* old = current_.load(std::memory_order_relaxed);
    Map* next = new Map(*old);
    Toggle(*next, &toggle_device_);
    current_.store(next, std::memory_order_release);
    urcu_qsbr_synchronize_rcu();
    delete old;
  }

 private:
  std::atomic<Map*> current_{nullptr};
};

}  // namespace

RunResult RunUrcuQsbr(const std::vector<BenchRange>& ranges,
                      const std::vector<uint64_t>& addresses, const RunSpec& spec) {
  UrcuQsbrDesign design;
  design.Build(ranges);
  return RunLookups(design, addresses, spec);
}

}  // namespace dbs::bench
