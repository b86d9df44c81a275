// benchmarks/internal/designs.h — the designs a VMM author would otherwise use to find the
// device behind an address, and this project's, each written once.
//
// Every design maps ranges of the two address spaces to devices and answers an access the
// same way: find the range holding the address (upper_bound, step back), check that the whole
// access fits, call the device. They differ only in how the map is protected:
//   FloorDesign      absl::btree_map, no protection (the floor; unsafe beside a writer)
//   RwLockDesign     std::shared_mutex + std::map (the original crate behind a RwLock)
//   ArcSwapDesign    std::atomic<std::shared_ptr<const map>>, a whole copy per change
//                    (Dragonball's ArcSwap)
//   MutexDesign      std::mutex + absl::btree_map
//   IoBusDesign      dbs::IoBus: this project's lookup and the call, nothing else
//   IoManagerDesign  dbs::IoManager's public dispatch (IoManagerStatsDesign: statistics on)
// liburcu's flavours are in urcu_design.h (their headers cannot share a translation unit).
//
// A design is a template on its Target, what it calls on the device it finds:
//   BenchTarget     BenchDevice::Read(offset), one virtual call: the bare lookup (bus_bench)
//   DeviceIoTarget  DeviceIo's PioRead/Read/PioWrite/Write with (base, offset, data), the call
//                   IoManager makes (dispatch, trace_replay)
// For the benchmark harness (harness.h, gbench.h) each design has Lookup(address), a 1-byte
// read in the space chosen with UseSpace, and Republish(), a writer's change: one device
// hot-added or hot-removed at kHotplugBase. With DeviceIoTarget it also has Dispatch(space,
// write, address, data), a whole access.

#ifndef DBS_DEVICE_BENCHMARKS_INTERNAL_DESIGNS_H_
#define DBS_DEVICE_BENCHMARKS_INTERNAL_DESIGNS_H_

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>
#include <vector>

#include "absl/container/btree_map.h"
#include "dbs_device/benchmarks/internal/gbench.h"
#include "dbs_device/benchmarks/internal/harness.h"
#include "dbs_device/bus/io_bus.h"
#include "dbs_device/device/mutex_device.h"
#include "dbs_device/manager/io_manager.h"

namespace dbs::bench {

// The device call IoManager makes: PioRead/PioWrite/Read/Write with (base, offset, data).
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

struct BenchTarget {
  using Device = BenchDevice;
  using Concrete = BenchDevice;  // what the benchmarks create
  static uint64_t Read(BenchDevice& device, AddressSpace, uint64_t, uint64_t offset) {
    return device.Read(offset);
  }
};

struct DeviceIoTarget {
  using Device = DeviceIo;
  using Concrete = ConstantDevice;
  ABSL_ATTRIBUTE_ALWAYS_INLINE static uint64_t Read(DeviceIo& device, AddressSpace space,
                                                    uint64_t base, uint64_t offset) {
    uint8_t byte = 0;
    CallDevice(device, space, false, base, offset, absl::MakeSpan(&byte, 1));
    return byte;
  }
};

// One device's range, for building any design. The devices are owned elsewhere.
template <typename Device>
struct Placement {
  AddressSpace space;
  uint64_t base;
  uint64_t size;
  Device* device;
};

// `count` devices of `size` at random, distinct, `size`-aligned bases of `space`, and the
// devices themselves. PIO stays below 0xf000, clear of kHotplugBase.
template <typename Target>
struct PlacedDevices {
  std::vector<std::unique_ptr<typename Target::Concrete>> devices;
  std::vector<Placement<typename Target::Device>> ranges;
};

template <typename Target>
PlacedDevices<Target> PlaceRandomly(AddressSpace space, size_t count, uint64_t size,
                                    uint64_t seed = 1) {
  const uint64_t limit = space == AddressSpace::kPio ? 0xf000 : uint64_t{1} << 40;
  std::mt19937_64 rng(seed);
  std::set<uint64_t> bases;
  while (bases.size() < count) bases.insert((rng() % (limit / size)) * size);
  PlacedDevices<Target> placed;
  for (uint64_t base : bases) {
    placed.devices.push_back(std::make_unique<typename Target::Concrete>(base));
    placed.ranges.push_back({space, base, size, placed.devices.back().get()});
  }
  return placed;
}

// 64 Ki addresses inside `ranges`: uniformly random, or one address repeated (a driver
// polling a status register).
template <typename Device>
std::vector<uint64_t> AddressStream(const std::vector<Placement<Device>>& ranges, bool random,
                                    uint64_t seed = 2) {
  std::vector<uint64_t> out(1 << 16);
  std::mt19937_64 rng(seed);
  const Placement<Device>& fixed = ranges[ranges.size() / 2];
  for (uint64_t& a : out) {
    if (random) {
      const Placement<Device>& r = ranges[rng() % ranges.size()];
      a = r.base + rng() % r.size;
    } else {
      a = fixed.base + 1;
    }
  }
  return out;
}

// The device a writer adds and removes: above every benchmarked PIO range.
inline constexpr uint64_t kHotplugBase = 0xfff0;

template <typename Device>
struct Slot {
  uint64_t last;
  Device* device;
};

template <typename Map>
using SpaceMaps = std::array<Map, kAddressSpaces>;

template <typename Map, typename Device>
SpaceMaps<Map> MakeMaps(const std::vector<Placement<Device>>& ranges) {
  SpaceMaps<Map> maps;
  for (const Placement<Device>& r : ranges) {
    maps[static_cast<size_t>(r.space)].emplace(r.base, Slot<Device>{r.base + r.size - 1, r.device});
  }
  return maps;
}

// Finds the range of `map` holding [address, address + length) and calls
// found(device, base, offset); false if there is none.
template <typename Map, typename Found>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool FindIn(const Map& map, uint64_t address, size_t length,
                                                Found&& found) {
  auto it = map.upper_bound(address);
  if (it == map.begin()) return false;
  --it;
  if (length == 0 || address > it->second.last || length - 1 > it->second.last - address) {
    return false;
  }
  found(*it->second.device, it->first, address - it->first);
  return true;
}

// What every design shares. Derived provides
//   template <typename Found> bool Find(AddressSpace, uint64_t address, size_t length, Found&&)
// (FindIn under its protection), Build and Republish.
template <typename Derived, typename Target>
class Design {
 public:
  using Device = typename Target::Device;
  static constexpr bool kWriterSafe = true;

  void UseSpace(AddressSpace space) { space_ = space; }
  void ThreadEnter() {}
  void ThreadLeave() {}
  void Quiesce() {}

  ABSL_ATTRIBUTE_ALWAYS_INLINE uint64_t Lookup(uint64_t address) {
    uint64_t answer = 0;
    self().Find(space_, address, 1, [&](Device& device, uint64_t base, uint64_t offset) {
      answer = Target::Read(device, space_, base, offset);
    });
    return answer;
  }

  // A whole access (DeviceIoTarget only); true if a device took it.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Dispatch(AddressSpace space, bool write, uint64_t address,
                                             absl::Span<uint8_t> data) {
    return self().Find(space, address, data.size(),
                       [&](DeviceIo& device, uint64_t base, uint64_t offset) {
                         CallDevice(device, space, write, base, offset, data);
                       });
  }

 protected:
  // Adds the hot-plugged device to `maps`, or removes it.
  template <typename Maps>
  void Toggle(Maps& maps) {
    auto& map = maps[static_cast<size_t>(space_)];
    if (map.erase(kHotplugBase) == 0) {
      map.emplace(kHotplugBase, Slot<Device>{kHotplugBase + 7, &hotplug_device_});
    }
  }

  AddressSpace space_ = AddressSpace::kMmio;
  typename Target::Concrete hotplug_device_{0x77};

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

template <typename Target>
class FloorDesign : public Design<FloorDesign<Target>, Target> {
 public:
  using Device = typename Target::Device;
  using Map = absl::btree_map<uint64_t, Slot<Device>>;
  static constexpr bool kWriterSafe = false;
  void Build(const std::vector<Placement<Device>>& ranges) { maps_ = MakeMaps<Map>(ranges); }
  template <typename Found>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Find(AddressSpace space, uint64_t address, size_t length,
                                         Found&& found) {
    return FindIn(maps_[static_cast<size_t>(space)], address, length, found);
  }
  void Republish() {}

 private:
  SpaceMaps<Map> maps_;
};

template <typename Target>
class ArcSwapDesign : public Design<ArcSwapDesign<Target>, Target> {
 public:
  using Device = typename Target::Device;
  using Maps = SpaceMaps<absl::btree_map<uint64_t, Slot<Device>>>;
  void Build(const std::vector<Placement<Device>>& ranges) {
    current_.store(std::make_shared<const Maps>(MakeMaps<typename Maps::value_type>(ranges)));
  }
  template <typename Found>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Find(AddressSpace space, uint64_t address, size_t length,
                                         Found&& found) {
    std::shared_ptr<const Maps> maps = current_.load(std::memory_order_acquire);
    return FindIn((*maps)[static_cast<size_t>(space)], address, length, found);
  }
  void Republish() {
    auto next = std::make_shared<Maps>(*current_.load());
    this->Toggle(*next);
    current_.store(std::move(next), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const Maps>> current_;
};

// A map behind a lock: `ReadLock<Mutex>` for lookups, std::unique_lock for changes.
template <typename Target, template <typename...> class MapOf, typename Mutex,
          template <typename> class ReadLock>
class LockedDesign : public Design<LockedDesign<Target, MapOf, Mutex, ReadLock>, Target> {
 public:
  using Device = typename Target::Device;
  using Map = MapOf<uint64_t, Slot<Device>>;
  void Build(const std::vector<Placement<Device>>& ranges) { maps_ = MakeMaps<Map>(ranges); }
  template <typename Found>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Find(AddressSpace space, uint64_t address, size_t length,
                                         Found&& found) {
    ReadLock<Mutex> lock(mu_);
    return FindIn(maps_[static_cast<size_t>(space)], address, length, found);
  }
  void Republish() {
    std::unique_lock<Mutex> lock(mu_);
    this->Toggle(maps_);
  }

 private:
  Mutex mu_;
  SpaceMaps<Map> maps_;
};

template <typename K, typename V>
using StdMap = std::map<K, V>;
template <typename K, typename V>
using Btree = absl::btree_map<K, V>;

template <typename Target>
using RwLockDesign = LockedDesign<Target, StdMap, std::shared_mutex, std::shared_lock>;
template <typename Target>
using MutexDesign = LockedDesign<Target, Btree, std::mutex, std::unique_lock>;

// IoBus mapping ranges straight to device pointers: the lookup and the call, nothing else.
template <typename Target>
class IoBusDesign : public Design<IoBusDesign<Target>, Target> {
 public:
  using Device = typename Target::Device;
  using Bus = IoBus<Device*, ValueItself<Device*>>;
  void Build(const std::vector<Placement<Device>>& ranges) {
    typename Bus::Transaction batch;
    for (const Placement<Device>& r : ranges) {
      batch.Register(BusRange{r.space, r.base, r.size}, r.device);
    }
    if (!bus_.Apply(std::move(batch)).ok()) std::abort();
  }
  template <typename Found>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Find(AddressSpace space, uint64_t address, size_t length,
                                         Found&& found) {
    ReadSection section;
    const auto hit = bus_.Current(section).Find(space, address, length);
    if (ABSL_PREDICT_FALSE(!hit.ok())) return false;
    found(**hit.hot, address - hit.offset, hit.offset);
    return true;
  }
  void Republish() {
    const BusRange hot{this->space_, kHotplugBase, 8};
    if (!bus_.Unregister(hot).ok()) (void)bus_.Register(hot, &this->hotplug_device_);
  }
  Bus& bus() { return bus_; }

 private:
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

// IoManager's public dispatch (DeviceIoTarget only: IoManager calls DeviceIo).
template <bool kStatistics>
class IoManagerDesignT {
 public:
  using Device = DeviceIo;
  static constexpr bool kWriterSafe = true;
  void UseSpace(AddressSpace space) { space_ = space; }
  void ThreadEnter() {}
  void ThreadLeave() {}
  void Quiesce() {}
  void Build(const std::vector<Placement<DeviceIo>>& ranges) {
    IoManager::Transaction tx = io_.Begin();
    for (const Placement<DeviceIo>& r : ranges) {
      const Resource range =
          r.space == AddressSpace::kPio
              ? Resource{PioRange{static_cast<uint16_t>(r.base), static_cast<uint16_t>(r.size)}}
              : Resource{MmioRange{r.base, r.size}};
      // The devices are owned by the caller: a shared_ptr that owns nothing.
      if (!tx.Register(std::shared_ptr<DeviceIo>(std::shared_ptr<void>(), r.device), {range})
               .ok()) {
        std::abort();
      }
    }
    if (!tx.Commit().ok()) std::abort();
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE uint64_t Lookup(uint64_t address) {
    uint8_t byte = 0;
    return Dispatch(space_, false, address, absl::MakeSpan(&byte, 1)) ? byte : 0;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Dispatch(AddressSpace space, bool write, uint64_t address,
                                             absl::Span<uint8_t> data) {
    return DispatchThrough(io_, space, write, address, data);
  }
  void Republish() {
    const Resource hot = space_ == AddressSpace::kPio ? Resource{PioRange{kHotplugBase, 8}}
                                                      : Resource{MmioRange{kHotplugBase, 8}};
    if (!io_.UnregisterDeviceIo({hot}).ok()) (void)io_.RegisterDeviceIo(hotplug_, {hot});
  }
  IoManager& io() { return io_; }

 private:
  AddressSpace space_ = AddressSpace::kMmio;
  IoManager io_{IoManager::Options{.statistics = kStatistics}};
  std::shared_ptr<DeviceIo> hotplug_ = std::make_shared<ConstantDevice>(0x77);
};
using IoManagerDesign = IoManagerDesignT<false>;  // the default options
using IoManagerStatsDesign = IoManagerDesignT<true>;

// One lookup case: `ranges` devices of 8 bytes at random bases of `space`, read at random
// addresses inside them or at one repeated address, by `threads` threads, beside `writer`.
struct LookupCase {
  AddressSpace space;
  int ranges;
  bool random;
  int threads;
  Writer writer;
};

// Registers `name`: `Design` (on `Target`) answering lookups in case `c` (gbench.h).
template <typename Design, typename Target>
void RegisterCase(const std::string& name, const LookupCase& c) {
  RegisterDesign<Design>(name, c.threads, c.writer, [c] {
    typename SharedRun<Design>::Built built;
    PlacedDevices<Target> placed = PlaceRandomly<Target>(c.space, c.ranges, 8);
    built.addresses = AddressStream(placed.ranges, c.random);
    built.design = std::make_unique<Design>();
    built.design->UseSpace(c.space);
    built.design->Build(placed.ranges);
    built.keep_alive = std::make_shared<PlacedDevices<Target>>(std::move(placed));
    return built;
  });
}

}  // namespace dbs::bench

#endif  // DBS_DEVICE_BENCHMARKS_INTERNAL_DESIGNS_H_
