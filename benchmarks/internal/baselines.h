// benchmarks/internal/baselines.h — the designs a VMM author would otherwise use to guard a
// range map, written here so they are measured in the same binary as IoBus.
//
// - UnprotectedBtree: absl::btree_map with no protection at all (the floor; not safe with
//   a writer).
// - RwLockMap: std::shared_mutex + std::map (Rust's RwLock<IoManager>, the original crate's
//   design in a concurrent VMM).
// - SharedPtrSwap: std::atomic<std::shared_ptr<const map>> to an immutable copy (ArcSwap).
// - MutexMap: one std::mutex around an absl::btree_map.
// - IoBusDesign: this project's IoBus (lookup + the device's virtual call).
// - IoBusDeviceIoDesign: IoBus calling the DeviceIo method IoManager calls, nothing more.
// - IoManagerDesign: this project's IoManager::MmioRead, the whole dispatch path (read
//   section, lookup, range check, status, DeviceIo call); IoManagerStatsDesign adds the
//   per-device statistics.
// Each Lookup finds the range holding the address (upper_bound, step back, check) and calls
// the device's virtual Read with the offset. Republish inserts or removes one range far
// from the looked-up ones, as a hot-add or hot-remove would.

#ifndef DBS_DEVICE_BENCHMARKS_INTERNAL_BASELINES_H_
#define DBS_DEVICE_BENCHMARKS_INTERNAL_BASELINES_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "absl/container/btree_map.h"
#include "dbs_device/benchmarks/internal/harness.h"
#include "dbs_device/bus/io_bus.h"
#include "dbs_device/manager/io_manager.h"

namespace dbs::bench {

// A range end and its device, as every map below stores it.
struct MapSlot {
  uint64_t last;
  BenchDevice* device;
};

// The base of the range a writer toggles; above every looked-up range.
inline constexpr uint64_t kToggleBase = uint64_t{1} << 62;

template <typename Map>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint64_t FindAndCall(const Map& map, uint64_t address) {
  auto it = map.upper_bound(address);
  if (it == map.begin()) return 0;
  --it;
  if (address > it->second.last) return 0;
  return it->second.device->Read(address - it->first);
}

template <typename Map>
Map MakeMap(const std::vector<BenchRange>& ranges) {
  Map map;
  for (const BenchRange& r : ranges) map.emplace(r.base, MapSlot{r.base + r.size - 1, r.device});
  return map;
}

template <typename Map>
void Toggle(Map& map, BenchDevice* device) {
  if (map.erase(kToggleBase) == 0) map.emplace(kToggleBase, MapSlot{kToggleBase + 7, device});
}

class DesignBase {
 public:
  static constexpr bool kWriterSafe = true;
  void ThreadEnter() {}
  void ThreadLeave() {}
  void Quiesce() {}

 protected:
  BenchDevice toggle_device_{~uint64_t{0}};
};

class UnprotectedBtree : public DesignBase {
 public:
  static constexpr bool kWriterSafe = false;
  static constexpr const char* kName = "btree, unprotected (floor)";
  void Build(const std::vector<BenchRange>& ranges) {
    map_ = MakeMap<absl::btree_map<uint64_t, MapSlot>>(ranges);
  }
  uint64_t Lookup(uint64_t address) { return FindAndCall(map_, address); }
  void Republish() {}

 private:
  absl::btree_map<uint64_t, MapSlot> map_;
};

class SharedPtrSwap : public DesignBase {
 public:
  static constexpr const char* kName = "atomic<shared_ptr<map>>";
  using Map = absl::btree_map<uint64_t, MapSlot>;
  void Build(const std::vector<BenchRange>& ranges) {
    current_.store(std::make_shared<const Map>(MakeMap<Map>(ranges)));
  }
  uint64_t Lookup(uint64_t address) {
    std::shared_ptr<const Map> map = current_.load(std::memory_order_acquire);
    return FindAndCall(*map, address);
  }
  void Republish() {
    auto next = std::make_shared<Map>(*current_.load());
    Toggle(*next, &toggle_device_);
    current_.store(std::move(next), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const Map>> current_;
};

// A map behind a lock: `ReadLock<Mutex>` for lookups, std::unique_lock for changes.
template <typename Map, typename Mutex, template <typename> class ReadLock>
class LockedMap : public DesignBase {
 public:
  void Build(const std::vector<BenchRange>& ranges) { map_ = MakeMap<Map>(ranges); }
  uint64_t Lookup(uint64_t address) {
    ReadLock<Mutex> lock(mu_);
    return FindAndCall(map_, address);
  }
  void Republish() {
    std::unique_lock<Mutex> lock(mu_);
    Toggle(map_, &toggle_device_);
  }

 private:
  Mutex mu_;
  Map map_;
};

class RwLockMap
    : public LockedMap<std::map<uint64_t, MapSlot>, std::shared_mutex, std::shared_lock> {
 public:
  static constexpr const char* kName = "shared_mutex + std::map";
};

class MutexMap
    : public LockedMap<absl::btree_map<uint64_t, MapSlot>, std::mutex, std::unique_lock> {
 public:
  static constexpr const char* kName = "mutex + btree";
};

class IoBusDesign : public DesignBase {
 public:
  static constexpr const char* kName = "IoBus (this project)";
  void Build(const std::vector<BenchRange>& ranges) {
    IoBus<BenchDevice*>::Batch batch;
    for (const BenchRange& r : ranges) {
      batch.Insert(BusRange{AddressSpace::kMmio, r.base, r.size}, r.device);
    }
    if (!bus_.Apply(std::move(batch)).ok()) std::abort();
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE uint64_t Lookup(uint64_t address) {
    ReadSection section;
    BusLookup<BenchDevice*> hit = bus_.snapshot(section).Find(AddressSpace::kMmio, address, 1);
    if (ABSL_PREDICT_FALSE(!hit.ok())) return 0;
    return hit.entry->value->Read(hit.offset);
  }
  void Republish() {
    const BusRange toggle{AddressSpace::kMmio, kToggleBase, 8};
    if (!bus_.Remove(toggle).ok()) (void)bus_.Insert(toggle, &toggle_device_);
  }
  IoBus<BenchDevice*>& bus() { return bus_; }

 private:
  IoBus<BenchDevice*> bus_;
};

// IoBus mapping ranges straight to DeviceIo pointers, calling the device the way IoManager
// does (base, offset, a span for the data): the bare lookup plus the same virtual call, and
// nothing else (no statistics, no status). What IoManager's own overhead is measured against.
class IoBusDeviceIoDesign : public DesignBase {
 public:
  static constexpr const char* kName = "IoBus + DeviceIo call";
  void Build(const std::vector<BenchRange>& ranges) {
    IoBus<DeviceIo*, ValueItself<DeviceIo*>>::Batch batch;
    for (const BenchRange& r : ranges) {
      devices_.push_back(std::make_unique<ConstantDevice>(r.base));
      batch.Insert(BusRange{AddressSpace::kMmio, r.base, r.size}, devices_.back().get());
    }
    if (!bus_.Apply(std::move(batch)).ok()) std::abort();
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE uint64_t Lookup(uint64_t address) {
    ReadSection section;
    const auto hit = bus_.snapshot(section).Find(AddressSpace::kMmio, address, 1);
    if (ABSL_PREDICT_FALSE(!hit.ok())) return 0;
    uint8_t byte = 0;
    (*hit.hot)->Read(IoAddress{address - hit.offset}, IoAddress{hit.offset},
                     absl::MakeSpan(&byte, 1));
    return byte;
  }
  void Republish() {
    const BusRange toggle{AddressSpace::kMmio, kToggleBase, 8};
    if (!bus_.Remove(toggle).ok()) (void)bus_.Insert(toggle, &toggle_device_io_);
  }

 private:
  std::vector<std::unique_ptr<ConstantDevice>> devices_;
  ConstantDevice toggle_device_io_{kToggleBase};
  IoBus<DeviceIo*, ValueItself<DeviceIo*>> bus_;
};

template <bool kStatistics>
class IoManagerDesignT : public DesignBase {
 public:
  static constexpr const char* kName =
      kStatistics ? "IoManager + statistics" : "IoManager dispatch";
  void Build(const std::vector<BenchRange>& ranges) {
    IoManager::Transaction tx = io_.Begin();
    for (const BenchRange& r : ranges) {
      if (!tx.Register(std::make_shared<ConstantDevice>(r.base), {MmioRange{r.base, r.size}})
               .ok()) {
        std::abort();
      }
    }
    if (!tx.Commit().ok()) std::abort();
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE uint64_t Lookup(uint64_t address) {
    uint8_t byte = 0;
    const absl::Status status = io_.MmioRead(address, absl::MakeSpan(&byte, 1));
    return status.ok() ? byte : 0;
  }
  void Republish() {
    const Resource toggle = MmioRange{kToggleBase, 8};
    if (!io_.UnregisterDeviceIo({toggle}).ok()) {
      (void)io_.RegisterDeviceIo(std::make_shared<ConstantDevice>(kToggleBase), {toggle});
    }
  }
  IoManager& io() { return io_; }

 private:
  IoManager io_{IoManager::Options{.statistics = kStatistics}};
};
using IoManagerDesign = IoManagerDesignT<false>;  // the default options
using IoManagerStatsDesign = IoManagerDesignT<true>;

}  // namespace dbs::bench

#endif  // DBS_DEVICE_BENCHMARKS_INTERNAL_BASELINES_H_
