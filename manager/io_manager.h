// manager/io_manager.h — turns guest port-I/O and MMIO exits into device calls.
//
// IoManager keeps every registered PIO and MMIO range in one IoBus (bus/io_bus.h), so a
// change that touches both spaces is published as one generation. A vCPU thread that
// exits on an I/O instruction or an MMIO access calls PioRead/PioWrite/MmioRead/MmioWrite;
// the manager finds the device by address and calls its handler with (range base, offset
// inside the range, data).
//
//   dbs::IoManager io;
//   io.RegisterDeviceIo(device, {dbs::PioRange{0x3f8, 8}});        // all ranges or none
//   absl::Status s = io.PioWrite(0x3f8, bytes);                     // on the vCPU thread
//
// DISPATCH enters an RCU read section, loads the current snapshot, finds the range (a
// branch-free descent of a 16-way tree, see io_bus.h), checks that the whole access lies
// inside it, counts the access if statistics are on and calls the handler. It takes no
// lock, performs no atomic read-modify-write and writes no cache line shared with another
// thread. Errors: kNotFound when no device is registered at the address, kOutOfRange when
// the access starts inside a range and runs past its end (the device is not called),
// kInvalidArgument for length 0. Error messages name the addresses in hex.
//
// CHANGES (Register, Unregister, Move, and Transaction for several at once) are validated
// as a whole and published as one generation, or not at all: on any error nothing changes.
// Ranges that overlap a registered range in any way are kAlreadyExists; empty ranges and
// ranges past the end of their space (0x10000 for PIO, 2^64 for MMIO) are kInvalidArgument;
// unregistering or moving a range that is not registered exactly is kNotFound. Resources
// other than PioRange and MmioRange are ignored, as in the original crate. A change never
// waits for readers, so a device handler may register and unregister devices, itself
// included, from inside a dispatch.
//
// LIFETIME. The manager holds a std::shared_ptr to each device. A device object is
// destroyed only after the last generation naming it is reclaimed, so no vCPU ever calls a
// destroyed device. Synchronize() returns once every dispatch that began before it has
// returned: after Unregister + Synchronize the device is never called again.
// Synchronize from inside a dispatch returns kFailedPrecondition instead of deadlocking.
//
// WHERE DEVICES DIE. When the manager drops the last reference to a device, its destructor
// runs on whichever thread reclaims: one committing a later change (after it has released
// the manager's mutex), a vCPU thread changing the bus from inside a handler, a thread in
// Synchronize(), or the one destroying the manager (which unregisters everything and waits
// for a grace period, so devices die while it is still whole). Never under a lock of this
// library: a device's destructor may call any public method of IoManager (and of a
// DeviceManager built on it).
//
// STATISTICS per device (reads, writes, bytes, errors by code) are kept per thread and
// summed when asked for (GetDeviceStats); accesses that found no device are counted in
// UnclaimedStats(). Failed accesses are always counted; successful ones only with
// Options::statistics = true (one per-thread increment per dispatch, off by default).
//
// EXCEPTIONS. Every call gives the basic guarantee: if an allocation throws during a change,
// nothing is published and nothing leaks.
//
// Thread-safety: every method is thread-safe. Dispatch is wait-free; changes serialise on
// one mutex that is never held while waiting for readers, nor while device code runs.

#ifndef DBS_DEVICE_MANAGER_IO_MANAGER_H_
#define DBS_DEVICE_MANAGER_IO_MANAGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dbs_device/base/mutex.h"
#include "dbs_device/bus/io_bus.h"
#include "dbs_device/bus/rcu.h"
#include "dbs_device/device/device_io.h"
#include "dbs_device/device/mutex_device.h"
#include "dbs_device/manager/internal/dispatch_stats.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

// Dispatch counts of one device (or of the accesses that found none).
struct DeviceStats {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  // Failed accesses by status code (kOutOfRange for a device; kNotFound and
  // kInvalidArgument for unclaimed accesses). Codes that never occurred are absent.
  std::map<absl::StatusCode, uint64_t> errors;

  uint64_t total_errors() const;
  // "reads=3 writes=1 bytes_read=12 bytes_written=1 errors={OUT_OF_RANGE: 1}"
  std::string ToString() const;
  friend bool operator==(const DeviceStats&, const DeviceStats&) = default;
};
std::ostream& operator<<(std::ostream& os, const DeviceStats& stats);

struct IoManagerOptions {
  // Count reads, writes and bytes per device: one increment in the thread's own memory per
  // dispatch (its cost is in benchmarks/README.md). Off by default, so a dispatch writes
  // only the thread's reader slot, as docs/architecture.md's concurrency contract states.
  // Failed accesses are counted either way.
  bool statistics = false;
};

class IoManager {
 private:
  // What the bus maps a range to: the owning pointer, and the stats slot.
  struct Handle {
    std::shared_ptr<DeviceIo> device;
    uint32_t stats_slot;
  };
  // What every dispatch needs of a Handle, copied into the bus's read index: the device.
  struct DeviceOfHandle {
    DeviceIo* operator()(const Handle& h) const { return h.device.get(); }
  };
  // What only a counted dispatch needs, in an array of its own: the stats slot.
  struct SlotOfHandle {
    uint32_t operator()(const Handle& h) const { return h.stats_slot; }
  };
  using Bus = IoBus<Handle, DeviceOfHandle, SlotOfHandle>;

 public:
  // A set of changes validated together and published as one generation. Destroying a
  // transaction that was not committed cancels it. Not thread-safe itself.
  class Transaction {
   public:
    Transaction(Transaction&&) noexcept;
    Transaction& operator=(Transaction&&) noexcept;
    ~Transaction();

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

    // Changes recorded so far.
    size_t size() const { return ops_.size(); }

   private:
    friend class IoManager;
    explicit Transaction(IoManager* manager) : manager_(manager) {}

    struct RegisterOp {
      std::shared_ptr<DeviceIo> device;
      std::vector<BusRange> ranges;
    };
    struct UnregisterOp {
      std::vector<BusRange> ranges;
    };
    struct MoveOp {
      BusRange from;
      uint64_t new_base;
    };
    using Op = std::variant<RegisterOp, UnregisterOp, MoveOp>;

    absl::Status CheckOpen() const;

    IoManager* manager_;
    bool done_ = false;
    absl::InlinedVector<Op, 1> ops_;  // a single change allocates nothing here
  };

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
  // Unregisters every PIO/MMIO range of `resources`, each registered exactly, or none.
  [[nodiscard]] absl::Status UnregisterDeviceIo(absl::Span<const Resource> resources)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Moves a registered range (a PCI BAR being reprogrammed): every dispatch finds the device
  // at exactly one of the two addresses, never both or neither.
  [[nodiscard]] absl::Status MoveDeviceIo(const Resource& from, uint64_t new_base)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Starts a transaction.
  Transaction Begin() { return Transaction(this); }

  // Dispatch, on vCPU threads.
  [[nodiscard]] absl::Status PioRead(uint16_t port, absl::Span<uint8_t> data);
  [[nodiscard]] absl::Status PioWrite(uint16_t port, absl::Span<const uint8_t> data);
  [[nodiscard]] absl::Status MmioRead(uint64_t address, absl::Span<uint8_t> data);
  [[nodiscard]] absl::Status MmioWrite(uint64_t address, absl::Span<const uint8_t> data);

  // Returns once every dispatch that began before the call has returned, and the snapshots
  // retired before it are reclaimed. kFailedPrecondition inside a dispatch (or any read
  // section), where it would wait for itself.
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
  // The published generation (+1 per committed change).
  uint64_t generation() const { return bus_.generation(); }

 private:
  struct DeviceInfo {
    uint32_t stats_slot;
    size_t ranges;
  };

  template <bool kWrite, typename Call>
  absl::Status Dispatch(AddressSpace space, uint64_t address, size_t length, Call call);
  // The dispatch path with counting compiled in or out, so the path without it carries
  // none of its code or register pressure.
  template <bool kWrite, bool kCount, typename Call>
  absl::Status DispatchWith(AddressSpace space, uint64_t address, size_t length, Call call);
  absl::Status CommitTransaction(Transaction& tx) ABSL_LOCKS_EXCLUDED(mu_);
  // The error of a lookup in `snapshot` that failed, counted. Out of line, and it repeats
  // the lookup rather than taking the result, so the dispatch path keeps that result in
  // registers and never loads what only an error needs.
  ABSL_ATTRIBUTE_NOINLINE absl::Status DispatchError(const Bus::Snapshot& snapshot,
                                                     AddressSpace space, uint64_t address,
                                                     size_t length);

  Bus bus_;
  const bool statistics_;
  const uint32_t unclaimed_slot_;
  mutable internal::Mutex mu_;  // serialises changes
  absl::flat_hash_map<const DeviceIo*, DeviceInfo> devices_ ABSL_GUARDED_BY(mu_);
};

// The bus range of a PioRange or MmioRange resource; nullopt for other kinds.
std::optional<BusRange> ToBusRange(const Resource& resource);

// --- Dispatch: inline, so a vCPU loop pays no call for the lookup ------------------------

template <bool kWrite, typename Call>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status IoManager::Dispatch(AddressSpace space,
                                                                     uint64_t address,
                                                                     size_t length, Call call) {
  return statistics_ ? DispatchWith<kWrite, true>(space, address, length, call)
                     : DispatchWith<kWrite, false>(space, address, length, call);
}

template <bool kWrite, bool kCount, typename Call>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status IoManager::DispatchWith(AddressSpace space,
                                                                         uint64_t address,
                                                                         size_t length, Call call) {
  ReadSection section;  // held until the handler returns
  const Bus::Snapshot& snapshot = bus_.snapshot(section);
  const Bus::LookupResult hit = snapshot.Find(space, address, length);
  if (ABSL_PREDICT_FALSE(!hit.ok())) {
    // Moved into the result rather than returned directly: the call writes the error into
    // a temporary, so the result's address never escapes and the path that succeeds keeps
    // it in a register instead of storing and reloading it.
    absl::Status error = DispatchError(snapshot, space, address, length);
    return absl::Status(std::move(error));
  }
  if constexpr (kCount) manager_internal::CountAccess<kWrite>(*hit.tag, length);
  call(**hit.hot, address - hit.offset, hit.offset);
  return absl::OkStatus();
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status IoManager::PioRead(uint16_t port,
                                                                    absl::Span<uint8_t> data) {
  return Dispatch<false>(AddressSpace::kPio, port, data.size(),
                         [data](DeviceIo& device, uint64_t base, uint64_t offset) {
                           device.PioRead(PioAddress{static_cast<uint16_t>(base)},
                                          PioAddress{static_cast<uint16_t>(offset)}, data);
                         });
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status IoManager::PioWrite(
    uint16_t port, absl::Span<const uint8_t> data) {
  return Dispatch<true>(AddressSpace::kPio, port, data.size(),
                        [data](DeviceIo& device, uint64_t base, uint64_t offset) {
                          device.PioWrite(PioAddress{static_cast<uint16_t>(base)},
                                          PioAddress{static_cast<uint16_t>(offset)}, data);
                        });
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status IoManager::MmioRead(uint64_t address,
                                                                     absl::Span<uint8_t> data) {
  return Dispatch<false>(AddressSpace::kMmio, address, data.size(),
                         [data](DeviceIo& device, uint64_t base, uint64_t offset) {
                           device.Read(IoAddress{base}, IoAddress{offset}, data);
                         });
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status IoManager::MmioWrite(
    uint64_t address, absl::Span<const uint8_t> data) {
  return Dispatch<true>(AddressSpace::kMmio, address, data.size(),
                        [data](DeviceIo& device, uint64_t base, uint64_t offset) {
                          device.Write(IoAddress{base}, IoAddress{offset}, data);
                        });
}

}  // namespace dbs

#endif  // DBS_DEVICE_MANAGER_IO_MANAGER_H_
