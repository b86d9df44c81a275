// liburcu's memb flavour guarding absl::btree_map snapshots (see urcu_baselines.h).
#define _LGPL_SOURCE  // inline read-side fast paths, as a real user of liburcu would
#include <urcu/urcu-memb.h>

#include <atomic>

#include "benchmarks/internal/baselines.h"
#include "benchmarks/internal/urcu_baselines.h"

namespace dbs::bench {
namespace {

class UrcuMembDesign : public DesignBase {
 public:
  using Map = absl::btree_map<uint64_t, MapSlot>;
  ~UrcuMembDesign() { delete current_.load(); }
  void Build(const std::vector<BenchRange>& ranges) {
    current_.store(new Map(MakeMap<Map>(ranges)), std::memory_order_release);
  }
  void ThreadEnter() { urcu_memb_register_thread(); }
  void ThreadLeave() { urcu_memb_unregister_thread(); }
  void Quiesce() {}
  uint64_t Lookup(uint64_t address) {
    urcu_memb_read_lock();
    const uint64_t answer = FindAndCall(*current_.load(std::memory_order_acquire), address);
    urcu_memb_read_unlock();
    return answer;
  }
  void Republish() {
    Map* old = current_.load(std::memory_order_relaxed);
    Map* next = new Map(*old);
    Toggle(*next, &toggle_device_);
    current_.store(next, std::memory_order_release);
    urcu_memb_synchronize_rcu();
    delete old;
  }

 private:
  std::atomic<Map*> current_{nullptr};
};

}  // namespace

RunResult RunUrcuMemb(const std::vector<BenchRange>& ranges,
                      const std::vector<uint64_t>& addresses, const RunSpec& spec) {
  UrcuMembDesign design;
  design.Build(ranges);
  return RunLookups(design, addresses, spec);
}

}  // namespace dbs::bench
