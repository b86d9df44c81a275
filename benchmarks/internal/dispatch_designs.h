// benchmarks/internal/dispatch_designs.h — VM-exit dispatch to DeviceIo devices under the
// designs a VMM author would otherwise use, beside this project's IoManager.
//
// Every design maps PIO and MMIO ranges to DeviceIo pointers and dispatches an access the
// same way: find the range holding the address (upper_bound, step back), check that the
// access fits, call the device's PioRead/PioWrite/Read/Write with (base, offset, data).
// They differ only in how the map is protected:
//   FloorDispatch        absl::btree_map, no protection (the floor; unsafe with a writer)
//   RwLockDispatch       std::shared_mutex + std::map (the original crate behind a RwLock)
//   SharedPtrDispatch    std::atomic<std::shared_ptr<const maps>> (whole-copy swapping)
//   MutexDispatch        std::mutex + absl::btree_map
//   IoBusDispatch        dbs::IoBus alone: the lookup and the call, nothing else
//   IoManagerDispatch    dbs::IoManager, the public API with its default options
//                        (IoManagerStatsDispatch: the same with Options::statistics on)
// liburcu's QSBR flavour is in urcu_dispatch.cc (its headers define clashing macros).
//
// For the harness (harness.h), each design also has Lookup(address): a 1-byte read in the
// space chosen with UseSpace, and Republish: a hot-add or hot-remove of one device.

#ifndef DBS_DEVICE_BENCHMARKS_INTERNAL_DISPATCH_DESIGNS_H_
#define DBS_DEVICE_BENCHMARKS_INTERNAL_DISPATCH_DESIGNS_H_

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "absl/container/btree_map.h"
#include "dbs_device/benchmarks/internal/harness.h"
#include "dbs_device/bus/io_bus.h"
#include "dbs_device/manager/device_io.h"
#include "dbs_device/manager/io_manager.h"

namespace dbs::bench {

// One device's range, for building any design.
struct Registration {
  AddressSpace space;
  uint64_t base;
  uint64_t size;
  std::shared_ptr<DeviceIo> device;
};

// Registrations of `count` devices of `size` at random bases of `space`.
inline std::vector<Registration> RandomDevices(AddressSpace space, size_t count, uint64_t size,
                                               uint64_t seed = 1) {
  std::vector<std::unique_ptr<BenchDevice>> unused;
  // PIO stays below 0xf000, clear of the hot-plugged device at kHotplugBase.
  const uint64_t limit = space == AddressSpace::kPio ? 0xf000 : uint64_t{1} << 40;
  std::vector<Registration> out;
  for (const BenchRange& r : RandomRanges(count, size, limit, unused, seed)) {
    out.push_back({space, r.base, r.size, std::make_shared<ConstantDevice>(r.base)});
  }
  return out;
}

struct DispatchSlot {
  uint64_t last;
  DeviceIo* device;
};

// The device call every design makes: PioRead/PioWrite/Read/Write with (base, offset, data).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void CallDevice(DeviceIo& device, AddressSpace space,
                                                    bool write, uint64_t base, uint64_t offset,
                                                    absl::Span<uint8_t> data) {
  if (space == AddressSpace::kPio) {
    const PioAddress b{static_cast<uint16_t>(base)}, o{static_cast<uint16_t>(offset)};
    if (write) {
      device.PioWrite(b, o, data);
    } else {
      device.PioRead(b, o, data);
    }
  } else if (write) {
    device.Write(IoAddress{base}, IoAddress{offset}, data);
  } else {
    device.Read(IoAddress{base}, IoAddress{offset}, data);
  }
}

// Finds and calls, as every baseline does.
template <typename Map>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool DispatchIn(const Map& map, AddressSpace space, bool write,
                                                    uint64_t address, absl::Span<uint8_t> data) {
  auto it = map.upper_bound(address);
  if (it == map.begin()) return false;
  --it;
  if (data.empty() || address > it->second.last || data.size() - 1 > it->second.last - address) {
    return false;
  }
  CallDevice(*it->second.device, space, write, it->first, address - it->first, data);
  return true;
}

template <typename Map>
using SpaceMaps = std::array<Map, kAddressSpaces>;

template <typename Map>
SpaceMaps<Map> MakeMaps(const std::vector<Registration>& regs) {
  SpaceMaps<Map> maps;
  for (const Registration& r : regs) {
    maps[static_cast<size_t>(r.space)].emplace(r.base,
                                               DispatchSlot{r.base + r.size - 1, r.device.get()});
  }
  return maps;
}

// The device a writer adds and removes: far above every benchmarked range.
inline constexpr uint64_t kHotplugBase = 0xfff0;

// Members common to every design.
class DispatchDesignBase {
 public:
  static constexpr bool kWriterSafe = true;
  void UseSpace(AddressSpace space) { space_ = space; }
  void ThreadEnter() {}
  void ThreadLeave() {}
  void Quiesce() {}

 protected:
  template <typename Maps>
  void Toggle(Maps& maps) {
    auto& map = maps[static_cast<size_t>(space_)];
    if (map.erase(kHotplugBase) == 0) {
      map.emplace(kHotplugBase, DispatchSlot{kHotplugBase + 7, &hotplug_device_});
    }
  }

  AddressSpace space_ = AddressSpace::kMmio;
  ConstantDevice hotplug_device_{0x77};
  std::vector<Registration> regs_;  // keeps the devices alive
};

// Lookup for the harness: a 1-byte read through Derived::Dispatch.
template <typename Derived>
class DispatchDesign : public DispatchDesignBase {
 public:
  uint64_t Lookup(uint64_t address) {
    uint8_t byte = 0;
    static_cast<Derived*>(this)->Dispatch(space_, false, address, absl::MakeSpan(&byte, 1));
    return byte;
  }
};

class FloorDispatch : public DispatchDesign<FloorDispatch> {
 public:
  static constexpr bool kWriterSafe = false;
  static constexpr const char* kName = "btree, unprotected (floor)";
  using Map = absl::btree_map<uint64_t, DispatchSlot>;
  void Build(const std::vector<Registration>& regs) {
    regs_ = regs;
    maps_ = MakeMaps<Map>(regs);
  }
  bool Dispatch(AddressSpace space, bool write, uint64_t address, absl::Span<uint8_t> data) {
    return DispatchIn(maps_[static_cast<size_t>(space)], space, write, address, data);
  }
  void Republish() {}

 private:
  SpaceMaps<Map> maps_;
};

class SharedPtrDispatch : public DispatchDesign<SharedPtrDispatch> {
 public:
  static constexpr const char* kName = "atomic<shared_ptr<map>>";
  using Maps = SpaceMaps<absl::btree_map<uint64_t, DispatchSlot>>;
  void Build(const std::vector<Registration>& regs) {
    regs_ = regs;
    current_.store(std::make_shared<const Maps>(MakeMaps<Maps::value_type>(regs)));
  }
  bool Dispatch(AddressSpace space, bool write, uint64_t address, absl::Span<uint8_t> data) {
    std::shared_ptr<const Maps> maps = current_.load(std::memory_order_acquire);
    return DispatchIn((*maps)[static_cast<size_t>(space)], space, write, address, data);
  }
  void Republish() {
    auto next = std::make_shared<Maps>(*current_.load());
    Toggle(*next);
    current_.store(std::move(next), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const Maps>> current_;
};

// A map behind a lock: `ReadLock<Mutex>` for dispatch, std::unique_lock for changes.
template <typename Derived, typename Map, typename Mutex, template <typename> class ReadLock>
class LockedMapDispatch : public DispatchDesign<Derived> {
 public:
  void Build(const std::vector<Registration>& regs) {
    this->regs_ = regs;
    maps_ = MakeMaps<Map>(regs);
  }
  bool Dispatch(AddressSpace space, bool write, uint64_t address, absl::Span<uint8_t> data) {
    ReadLock<Mutex> lock(mu_);
    return DispatchIn(maps_[static_cast<size_t>(space)], space, write, address, data);
  }
  void Republish() {
    std::unique_lock<Mutex> lock(mu_);
    this->Toggle(maps_);
  }

 private:
  Mutex mu_;
  SpaceMaps<Map> maps_;
};

class RwLockDispatch : public LockedMapDispatch<RwLockDispatch, std::map<uint64_t, DispatchSlot>,
                                                std::shared_mutex, std::shared_lock> {
 public:
  static constexpr const char* kName = "shared_mutex + std::map";
};

class MutexDispatch
    : public LockedMapDispatch<MutexDispatch, absl::btree_map<uint64_t, DispatchSlot>, std::mutex,
                               std::unique_lock> {
 public:
  static constexpr const char* kName = "mutex + btree";
};

// IoBus mapping ranges straight to DeviceIo pointers, with the same device call: the bare
// lookup plus one virtual call, what IoManager's own overhead is measured against. No
// statistics, no status.
class IoBusDispatch : public DispatchDesign<IoBusDispatch> {
 public:
  static constexpr const char* kName = "IoBus + DeviceIo call";
  void Build(const std::vector<Registration>& regs) {
    regs_ = regs;
    Bus::Batch batch;
    for (const Registration& r : regs) {
      batch.Insert(BusRange{r.space, r.base, r.size}, r.device.get());
    }
    if (!bus_.Apply(std::move(batch)).ok()) std::abort();
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Dispatch(AddressSpace space, bool write, uint64_t address,
                                             absl::Span<uint8_t> data) {
    ReadSection section;
    const auto hit = bus_.snapshot(section).Find(space, address, data.size());
    if (ABSL_PREDICT_FALSE(!hit.ok())) return false;
    CallDevice(**hit.hot, space, write, address - hit.offset, hit.offset, data);
    return true;
  }
  void Republish() {
    const BusRange hot{space_, kHotplugBase, 8};
    if (!bus_.Remove(hot).ok()) (void)bus_.Insert(hot, &hotplug_device_);
  }

 private:
  using Bus = IoBus<DeviceIo*, ValueItself<DeviceIo*>>;
  Bus bus_;
};

// One access through `io`'s public dispatch; true if a device took it.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool DispatchThrough(IoManager& io, AddressSpace space,
                                                         bool write, uint64_t address,
                                                         absl::Span<uint8_t> data) {
  if (space == AddressSpace::kPio) {
    const uint16_t port = static_cast<uint16_t>(address);
    return (write ? io.PioWrite(port, data) : io.PioRead(port, data)).ok();
  }
  return (write ? io.MmioWrite(address, data) : io.MmioRead(address, data)).ok();
}

template <bool kStatistics>
class IoManagerDispatchT : public DispatchDesign<IoManagerDispatchT<kStatistics>> {
 public:
  static constexpr const char* kName =
      kStatistics ? "IoManager + statistics" : "IoManager (this project)";
  void Build(const std::vector<Registration>& regs) {
    IoManager::Transaction tx = io_.Begin();
    for (const Registration& r : regs) {
      const Resource range =
          r.space == AddressSpace::kPio
              ? Resource{PioRange{static_cast<uint16_t>(r.base), static_cast<uint16_t>(r.size)}}
              : Resource{MmioRange{r.base, r.size}};
      if (!tx.Register(r.device, {range}).ok()) std::abort();
    }
    if (!tx.Commit().ok()) std::abort();
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Dispatch(AddressSpace space, bool write, uint64_t address,
                                             absl::Span<uint8_t> data) {
    return DispatchThrough(io_, space, write, address, data);
  }
  void Republish() {
    const Resource hot = this->space_ == AddressSpace::kPio ? Resource{PioRange{kHotplugBase, 8}}
                                                            : Resource{MmioRange{kHotplugBase, 8}};
    if (!io_.UnregisterDeviceIo({hot}).ok()) {
      (void)io_.RegisterDeviceIo(hotplug_, {hot});
    }
  }
  IoManager& io() { return io_; }

 private:
  IoManager io_{IoManager::Options{.statistics = kStatistics}};
  std::shared_ptr<DeviceIo> hotplug_ = std::make_shared<ConstantDevice>(0x77);
};
using IoManagerDispatch = IoManagerDispatchT<false>;  // the default options
using IoManagerStatsDispatch = IoManagerDispatchT<true>;

}  // namespace dbs::bench

#endif  // DBS_DEVICE_BENCHMARKS_INTERNAL_DISPATCH_DESIGNS_H_
