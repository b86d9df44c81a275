// benchmarks/internal/urcu_design.h — liburcu guarding btree snapshots, for any flavour.
//
// `Flavor` provides static ReadLock, ReadUnlock, RegisterThread, UnregisterThread,
// QuiescentState and SynchronizeRcu; each flavour's .cc file defines it from its own
// header (the headers cannot share a translation unit) and instantiates the designs here.

#ifndef DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_DESIGN_H_
#define DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_DESIGN_H_

#include <atomic>

#include "dbs_device/benchmarks/internal/baselines.h"
#include "dbs_device/benchmarks/internal/dispatch_designs.h"

namespace dbs::bench {

// Lookup + virtual call on BenchDevice (bus_bench).
template <typename Flavor>
class UrcuLookupDesign : public DesignBase {
 public:
  using Map = absl::btree_map<uint64_t, MapSlot>;
  ~UrcuLookupDesign() { delete current_.load(); }
  void Build(const std::vector<BenchRange>& ranges) {
    current_.store(new Map(MakeMap<Map>(ranges)), std::memory_order_release);
  }
  void ThreadEnter() { Flavor::RegisterThread(); }
  void ThreadLeave() { Flavor::UnregisterThread(); }
  void Quiesce() { Flavor::QuiescentState(); }
  uint64_t Lookup(uint64_t address) {
    Flavor::ReadLock();
    const uint64_t answer = FindAndCall(*current_.load(std::memory_order_acquire), address);
    Flavor::ReadUnlock();
    return answer;
  }
  void Republish() {
    Map* old = current_.load(std::memory_order_relaxed);
    Map* next = new Map(*old);
    Toggle(*next, &toggle_device_);
    current_.store(next, std::memory_order_release);
    Flavor::SynchronizeRcu();
    delete old;
  }

 private:
  std::atomic<Map*> current_{nullptr};
};

// Dispatch to DeviceIo (dispatch benchmark).
template <typename Flavor>
class UrcuDispatchDesign : public DispatchDesignBase {
 public:
  using Maps = SpaceMaps<absl::btree_map<uint64_t, DispatchSlot>>;
  ~UrcuDispatchDesign() { delete current_.load(); }
  void Build(const std::vector<Registration>& regs) {
    regs_ = regs;
    current_.store(new Maps(MakeMaps<typename Maps::value_type>(regs)), std::memory_order_release);
  }
  void ThreadEnter() { Flavor::RegisterThread(); }
  void ThreadLeave() { Flavor::UnregisterThread(); }
  void Quiesce() { Flavor::QuiescentState(); }
  uint64_t Lookup(uint64_t address) {
    uint8_t byte = 0;
    Flavor::ReadLock();
    const Maps& maps = *current_.load(std::memory_order_acquire);
    DispatchIn(maps[static_cast<size_t>(space_)], space_, false, address, absl::MakeSpan(&byte, 1));
    Flavor::ReadUnlock();
    return byte;
  }
  void Republish() {
    Maps* old = current_.load(std::memory_order_relaxed);
    Maps* next = new Maps(*old);
    Toggle(*next);
    current_.store(next, std::memory_order_release);
    Flavor::SynchronizeRcu();
    delete old;
  }

 private:
  std::atomic<Maps*> current_{nullptr};
};

}  // namespace dbs::bench

#endif  // DBS_DEVICE_BENCHMARKS_INTERNAL_URCU_DESIGN_H_
