// manager/internal/dispatch.h — IoManager's dispatch path, inline so that a vCPU loop pays
// no call for the lookup. Included by manager/io_manager.h only.

#ifndef DBS_DEVICE_MANAGER_INTERNAL_DISPATCH_H_
#define DBS_DEVICE_MANAGER_INTERNAL_DISPATCH_H_

#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "dbs_device/bus/rcu.h"
#include "dbs_device/device/access.h"
#include "dbs_device/manager/internal/dispatch_stats.h"
#include "dbs_device/manager/io_manager.h"

namespace dbs {

namespace manager_internal {

// Makes `context` the calling thread's CurrentAccess() for its lifetime.
class ScopedAccess {
 public:
  explicit ScopedAccess(const AccessContext& context)
      : previous_(std::exchange(device_internal::tls_access, &context)) {}
  ~ScopedAccess() { device_internal::tls_access = previous_; }
  ScopedAccess(const ScopedAccess&) = delete;
  ScopedAccess& operator=(const ScopedAccess&) = delete;

 private:
  const AccessContext* previous_;
};

// kInvalidArgument if `rules` refuse an access of `size` bytes at `address` of `space`.
absl::Status CheckAccessRules(const AccessRules& rules, AddressSpace space, uint64_t address,
                              size_t size);

}  // namespace manager_internal

template <bool kWrite, typename Call>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status IoManager::Dispatch(AddressSpace space,
                                                                     uint64_t address,
                                                                     Bytes<kWrite> data,
                                                                     Call call) {
  return statistics_ ? DispatchWith<kWrite, true>(space, address, data, call)
                     : DispatchWith<kWrite, false>(space, address, data, call);
}

template <bool kWrite, bool kCount, typename Call>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status IoManager::DispatchWith(AddressSpace space,
                                                                         uint64_t address,
                                                                         Bytes<kWrite> data,
                                                                         Call call) {
  ReadSection section;  // held until the handler returns
  const Bus::Generation& generation = bus_.Current(section);
  const Bus::LookupResult hit = generation.Find(space, address, data.size());
  if (ABSL_PREDICT_FALSE(!hit.ok())) {
    // Moved into the result rather than returned directly: the call writes the error into
    // a temporary, so the result's address never escapes and the path that succeeds keeps
    // it in a register instead of storing and reloading it.
    absl::Status error = DispatchError(generation, space, address, data.size());
    if constexpr (!kWrite) FillFailedRead(data);
    return absl::Status(std::move(error));
  }
  // Read after the generation, so a range with rules is never seen without the flag that
  // says some range has them (set before that range is published). While no range has
  // rules, the device pointer is used as it is, with no test on its tag bit.
  if (ABSL_PREDICT_FALSE(ruled_ranges_.load(std::memory_order_relaxed)) && hit.hot->has_rules()) {
    return DispatchByRules(*hit.entry, space, kWrite, address - hit.offset, hit.offset,
                           const_cast<uint8_t*>(data.data()), data.size());
  }
  if constexpr (kCount) manager_internal::CountAccess<kWrite>(*hit.tag, data.size());
  call(hit.hot->untagged(), address - hit.offset, hit.offset, data);
  return absl::OkStatus();
}

inline void IoManager::FillFailedRead(absl::Span<uint8_t> data) const {
  if (unclaimed_read_fill_.has_value())
    std::memset(data.data(), *unclaimed_read_fill_, data.size());
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status IoManager::PioRead(uint16_t port,
                                                                    absl::Span<uint8_t> data) {
  return Dispatch<false>(
      AddressSpace::kPio, port, data,
      [](DeviceIo& device, uint64_t base, uint64_t offset, absl::Span<uint8_t> bytes) {
        device.PioRead(PioAddress{static_cast<uint16_t>(base)},
                       PioAddress{static_cast<uint16_t>(offset)}, bytes);
      });
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status IoManager::PioWrite(
    uint16_t port, absl::Span<const uint8_t> data) {
  return Dispatch<true>(
      AddressSpace::kPio, port, data,
      [](DeviceIo& device, uint64_t base, uint64_t offset, absl::Span<const uint8_t> bytes) {
        device.PioWrite(PioAddress{static_cast<uint16_t>(base)},
                        PioAddress{static_cast<uint16_t>(offset)}, bytes);
      });
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status IoManager::MmioRead(uint64_t address,
                                                                     absl::Span<uint8_t> data) {
  return Dispatch<false>(
      AddressSpace::kMmio, address, data,
      [](DeviceIo& device, uint64_t base, uint64_t offset, absl::Span<uint8_t> bytes) {
        device.Read(IoAddress{base}, IoAddress{offset}, bytes);
      });
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::Status IoManager::MmioWrite(
    uint64_t address, absl::Span<const uint8_t> data) {
  return Dispatch<true>(
      AddressSpace::kMmio, address, data,
      [](DeviceIo& device, uint64_t base, uint64_t offset, absl::Span<const uint8_t> bytes) {
        device.Write(IoAddress{base}, IoAddress{offset}, bytes);
      });
}

inline absl::Status IoManager::PioRead(uint16_t port, absl::Span<uint8_t> data,
                                       const AccessContext& context) {
  manager_internal::ScopedAccess access(context);
  return PioRead(port, data);
}

inline absl::Status IoManager::PioWrite(uint16_t port, absl::Span<const uint8_t> data,
                                        const AccessContext& context) {
  manager_internal::ScopedAccess access(context);
  return PioWrite(port, data);
}

inline absl::Status IoManager::MmioRead(uint64_t address, absl::Span<uint8_t> data,
                                        const AccessContext& context) {
  manager_internal::ScopedAccess access(context);
  return MmioRead(address, data);
}

inline absl::Status IoManager::MmioWrite(uint64_t address, absl::Span<const uint8_t> data,
                                         const AccessContext& context) {
  manager_internal::ScopedAccess access(context);
  return MmioWrite(address, data);
}

}  // namespace dbs

#endif  // DBS_DEVICE_MANAGER_INTERNAL_DISPATCH_H_
