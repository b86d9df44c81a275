// benchmarks/internal/urcu_design.h — liburcu guarding btree snapshots, for any flavour and
// either target (designs.h).
//
// `Flavor` provides static ReadLock, ReadUnlock, RegisterThread, UnregisterThread,
// QuiescentState and SynchronizeRcu; each flavour's .cc file defines it from its own
// header (the headers cannot share a translation unit) and registers the benchmarks here.

#ifndef DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_DESIGN_H_
#define DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_DESIGN_H_

#include <atomic>
#include <vector>

#include "dbs_device/benchmarks/internal/designs.h"

namespace dbs::bench {

template <typename Flavor, typename Target>
class UrcuDesign : public Design<UrcuDesign<Flavor, Target>, Target> {
 public:
  using Device = typename Target::Device;
  using Maps = SpaceMaps<absl::btree_map<uint64_t, Slot<Device>>>;
  ~UrcuDesign() { delete current_.load(); }
  void Build(const std::vector<Placement<Device>>& ranges) {
    current_.store(new Maps(MakeMaps<typename Maps::value_type>(ranges)),
                   std::memory_order_release);
  }
  void ThreadEnter() { Flavor::RegisterThread(); }
  void ThreadLeave() { Flavor::UnregisterThread(); }
  void Quiesce() { Flavor::QuiescentState(); }
  template <typename Found>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Find(AddressSpace space, uint64_t address, size_t length,
                                         Found&& found) {
    Flavor::ReadLock();
    const Maps& maps = *current_.load(std::memory_order_acquire);
    const bool hit = FindIn(maps[static_cast<size_t>(space)], address, length, found);
    Flavor::ReadUnlock();
    return hit;
  }
  void Republish() {
    Maps* old = current_.load(std::memory_order_relaxed);
    Maps* next = new Maps(*old);
    this->Toggle(*next);
    current_.store(next, std::memory_order_release);
    Flavor::SynchronizeRcu();
    delete old;
  }

 private:
  std::atomic<Maps*> current_{nullptr};
};

}  // namespace dbs::bench

#endif  // DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_DESIGN_H_
