// manager/io_manager.h — turns guest port-I/O and MMIO exits into device calls.
//
//   dbs::IoManager io;
//   io.RegisterDeviceIo(device, {dbs::PioRange{0x3f8, 8}});        // all ranges or none
//   absl::Status s = io.PioWrite(0x3f8, bytes);                     // on the vCPU thread
//
// IoManager keeps every registered PIO and MMIO range in one IoBus (bus/io_bus.h), so a
// change touching both spaces is published as one generation. A vCPU thread calls
// PioRead/PioWrite/MmioRead/MmioWrite; the manager finds the device by address and calls
// its handler with (range base, offset inside the range, data).
//
// DISPATCH enters a read section, finds the range in the current generation, checks that
// the whole access lies inside it, counts it if statistics are on and calls the handler:
// no lock, no atomic read-modify-write, no store to a line another thread writes. Errors:
// kNotFound when no device is registered at the address, kOutOfRange when the access starts
// inside a range and runs past its end (the device is not called), kInvalidArgument for
// length 0; messages name the addresses in hex.
//
// CHANGES (Register, Unregister, Move, and a Transaction of several) are checked on the
// map they produce (a swap of two ranges commits) and published as one generation, or not
// at all: on any error nothing changes. The range errors are IoBus's (kInvalidArgument,
// kAlreadyExists, kNotFound). Resources other than PioRange and MmioRange are ignored. A change
// never waits for readers, so a handler may register and unregister devices, itself included, from
// inside a dispatch.
//
// LIFETIME. The manager holds a shared_ptr to each device; a device is destroyed only after
// the last generation naming it is reclaimed, so no vCPU calls a destroyed device. After
// Unregister + Synchronize the device is never called again. Its destructor runs on
// whichever thread reclaims (a later change after releasing the manager's mutex, a thread
// in Synchronize, or the one destroying the manager, which unregisters everything and waits
// for a grace period), never under a lock of this library: it may call any method of
// IoManager or of a DeviceManager built on it.
//
// STATISTICS per device are kept per thread and summed when asked for (GetDeviceStats);
// failed accesses are always counted, successful ones only with Options::statistics.
//
// ACCESS RULES and OVERLAYS: a range's RangeOptions (DeviceIo::GetRangeOptions, read at
// registration) say which accesses reach its device and how; device/access.h states how.
//
// Every call gives the basic exception guarantee. Thread-safety: every method is
// thread-safe. Dispatch is wait-free; changes serialise on one mutex that is never held
// while waiting for readers, nor while device code runs.

#ifndef DBS_DEVICE_MANAGER_IO_MANAGER_H_
#define DBS_DEVICE_MANAGER_IO_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dbs_device/base/mutex.h"
#include "dbs_device/bus/io_bus.h"
#include "dbs_device/bus/rcu.h"
#include "dbs_device/device/access.h"
#include "dbs_device/device/device_io.h"
#include "dbs_device/device/mutex_device.h"
#include "dbs_device/manager/device_stats.h"
#include "dbs_device/manager/internal/device_handle.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

struct IoManagerOptions {
  // Count reads, writes and bytes per device: one increment in the thread's own memory per
  // dispatch (its cost is in benchmarks/README.md). Off by default, so a dispatch writes
  // only the thread's reader state, as docs/architecture.md's concurrency contract states.
  // Failed accesses are counted either way.
  bool statistics = false;
  // What a read that fails (no device, past a range's end, refused by the range's access
  // rules) leaves in the buffer: every byte set to this value (0xff is what a PC's
  // unassigned ports answer), or, by default, the buffer as it was. The status is the same.
  std::optional<uint8_t> unclaimed_read_fill;
};

class IoManager {
 public:
  class Transaction;
  using Options = IoManagerOptions;

  // Uses the process-wide RCU domain.
  IoManager();
  explicit IoManager(Options options);
  explicit IoManager(RcuDomain& domain, Options options = {});
  ~IoManager();
  IoManager(const IoManager&) = delete;
  IoManager& operator=(const IoManager&) = delete;

  // Registers every PIO/MMIO range of `resources` for `device`, or none.
  [[nodiscard]] absl::Status RegisterDeviceIo(std::shared_ptr<DeviceIo> device,
                                              absl::Span<const Resource> resources)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A device model that is not a DeviceIo: says which wrapper makes it one.
  template <typename T>
  requires(!std::is_convertible_v<T*, DeviceIo*>) absl::Status
      RegisterDeviceIo(std::shared_ptr<T>, absl::Span<const Resource>) {
    static_assert(std::is_convertible_v<T*, DeviceIo*>,
                  "RegisterDeviceIo takes a DeviceIo: wrap a DeviceIoMut in MutexDevice<T> "
                  "(device/mutex_device.h), or place it with DeviceManager as ManagedDevice<T>");
    return absl::InternalError("unreachable");
  }
  // Unregisters every PIO/MMIO range of `resources`, each registered exactly, or none.
  [[nodiscard]] absl::Status UnregisterDeviceIo(absl::Span<const Resource> resources)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Moves a registered range (a PCI BAR being reprogrammed): every dispatch finds the device
  // at exactly one of the two addresses, never both or neither.
  [[nodiscard]] absl::Status MoveDeviceIo(const Resource& from, uint64_t new_base)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Starts a transaction.
  Transaction Begin();

  // Dispatch, on vCPU threads. With a context, the handlers read it with CurrentAccess()
  // (device/access.h); without one they see the enclosing dispatch's, or a default one.
  [[nodiscard]] absl::Status PioRead(uint16_t port, absl::Span<uint8_t> data);
  [[nodiscard]] absl::Status PioWrite(uint16_t port, absl::Span<const uint8_t> data);
  [[nodiscard]] absl::Status MmioRead(uint64_t address, absl::Span<uint8_t> data);
  [[nodiscard]] absl::Status MmioWrite(uint64_t address, absl::Span<const uint8_t> data);
  [[nodiscard]] absl::Status PioRead(uint16_t port, absl::Span<uint8_t> data,
                                     const AccessContext& context);
  [[nodiscard]] absl::Status PioWrite(uint16_t port, absl::Span<const uint8_t> data,
                                      const AccessContext& context);
  [[nodiscard]] absl::Status MmioRead(uint64_t address, absl::Span<uint8_t> data,
                                      const AccessContext& context);
  [[nodiscard]] absl::Status MmioWrite(uint64_t address, absl::Span<const uint8_t> data,
                                       const AccessContext& context);

  // Returns once every dispatch that began before the call has returned, and the
  // generations retired before it are reclaimed. kFailedPrecondition inside a dispatch (or
  // any read section), where it would wait for itself.
  [[nodiscard]] absl::Status Synchronize();

  // The device registered at `address` of `space`, if any.
  std::shared_ptr<DeviceIo> FindDevice(AddressSpace space, uint64_t address) const;
  // Counts for `device` since it was registered; kNotFound if it has no range registered.
  absl::StatusOr<DeviceStats> GetDeviceStats(const DeviceIo* device) const;
  // Counts of accesses that found no device (kNotFound) or had length 0.
  DeviceStats UnclaimedStats() const;
  // Registered ranges, and devices with at least one range.
  size_t range_count() const;
  size_t device_count() const;
  // The map in words, one line per range in ascending address order per space, with its
  // device's name (Device::name(), called here, or "unnamed") and its rules when they are
  // not the default: for a VMM's monitor and for test failure messages.
  //   PIO, 2 ranges
  //     [0x0060, 0x0060] i8042
  //     [0x0cf8, 0x0cfb] pci-host sizes 1-4, implements 4-4, aligned only
  //   MMIO, 0 ranges
  std::string DescribeMap() const;
  // The published generation's number (+1 per committed change).
  uint64_t generation() const { return bus_.generation(); }

 private:
  using Bus = manager_internal::DeviceBus;
  struct DeviceInfo {
    uint32_t counter_id;
    size_t ranges;
  };

  template <bool kWrite>
  using Bytes = std::conditional_t<kWrite, absl::Span<const uint8_t>, absl::Span<uint8_t>>;

  template <bool kWrite, typename Call>
  absl::Status Dispatch(AddressSpace space, uint64_t address, Bytes<kWrite> data, Call call);
  // The dispatch path with counting compiled in or out, so the path without it carries
  // none of its code or register pressure.
  template <bool kWrite, bool kCount, typename Call>
  absl::Status DispatchWith(AddressSpace space, uint64_t address, Bytes<kWrite> data, Call call);
  // A range whose access rules are not the default: refuse, split or widen. Out of line,
  // so that ranges without rules carry none of its code; `data` is written only by reads.
  ABSL_ATTRIBUTE_NOINLINE absl::Status DispatchByRules(const Bus::Entry& entry, AddressSpace space,
                                                       bool write, uint64_t base, uint64_t offset,
                                                       uint8_t* data, size_t size);
  void FillFailedRead(absl::Span<uint8_t> data) const;
  // The error of a lookup in `generation` that failed, counted. Out of line, and it repeats
  // the lookup rather than taking the result, so the dispatch path keeps that result in
  // registers and never loads what only an error needs.
  ABSL_ATTRIBUTE_NOINLINE absl::Status DispatchError(const Bus::Generation& generation,
                                                     AddressSpace space, uint64_t address,
                                                     size_t length);
  absl::Status CommitTransaction(Transaction& tx) ABSL_LOCKS_EXCLUDED(mu_);
  // The counter id of `device`: its own if it has ranges, else one allocated into `fresh`.
  uint32_t CounterFor(const DeviceIo* device, absl::flat_hash_map<const DeviceIo*, uint32_t>& fresh)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Bus bus_;
  const bool statistics_;
  const std::optional<uint8_t> unclaimed_read_fill_;
  // Set, for good, before the first range with access rules is published.
  std::atomic<bool> ruled_ranges_{false};
  const uint32_t unclaimed_counter_;
  mutable internal::Mutex mu_;  // serialises changes
  absl::flat_hash_map<const DeviceIo*, DeviceInfo> devices_ ABSL_GUARDED_BY(mu_);
};

// Changes validated together and published as one generation: a typed layer over the
// bus's own transaction. Destroying one that was not committed cancels it; a moved-from
// transaction is empty and closed. Not thread-safe itself.
class IoManager::Transaction {
 public:
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&& other) noexcept;
  ~Transaction() { Cancel(); }

  // Adds every PIO/MMIO range of `resources` for `device`. Checks each range on its own
  // now (kInvalidArgument for a null device, an empty range or one past its space's end)
  // and against the registered ones at Commit.
  [[nodiscard]] absl::Status Register(std::shared_ptr<DeviceIo> device,
                                      absl::Span<const Resource> resources);
  // Removes every PIO/MMIO range of `resources`; each must be registered exactly at Commit.
  [[nodiscard]] absl::Status Unregister(absl::Span<const Resource> resources);
  // Moves the registered range `from` (a PioRange or MmioRange) to `new_base`.
  [[nodiscard]] absl::Status Move(const Resource& from, uint64_t new_base);
  // Validates every change and publishes them as one generation, or returns the first
  // error and changes nothing. kFailedPrecondition if already committed or cancelled.
  [[nodiscard]] absl::Status Commit();
  // Drops every change.
  void Cancel();

  // Calls of Register, Unregister and Move that recorded a change.
  size_t size() const { return changes_; }

 private:
  friend class IoManager;
  explicit Transaction(IoManager* manager) : manager_(manager) {}
  absl::Status CheckOpen() const;

  IoManager* manager_;
  bool done_ = false;
  size_t changes_ = 0;
  Bus::Transaction bus_changes_;  // counter ids are filled in at Commit
};

// The bus range of a PioRange or MmioRange resource; nullopt for other kinds.
std::optional<BusRange> ToBusRange(const Resource& resource);

}  // namespace dbs

#include "dbs_device/manager/internal/dispatch.h"  // IWYU pragma: export

#endif  // DBS_DEVICE_MANAGER_IO_MANAGER_H_
