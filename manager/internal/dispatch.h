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
  const manager_internal::HotDevice hot = *hit.hot;
  if (ABSL_PREDICT_FALSE(hot.has_rules())) {
    return DispatchByRules<kWrite, kCount>(*hit.entry, space, address - hit.offset, hit.offset,
                                           data, call);
  }
  if constexpr (kCount) manager_internal::CountAccess<kWrite>(*hit.tag, data.size());
  call(hot.device(), address - hit.offset, hit.offset, data);
  return absl::OkStatus();
}

template <bool kWrite, bool kCount, typename Call>
ABSL_ATTRIBUTE_NOINLINE absl::Status IoManager::DispatchByRules(const Bus::Entry& entry,
                                                                AddressSpace space, uint64_t base,
                                                                uint64_t offset, Bytes<kWrite> data,
                                                                Call call) {
  const AccessRules& rules = entry.value.rules;
  const uint32_t counter = entry.value.counter_id;
  DeviceIo& device = *entry.value.device;
  const size_t size = data.size();
  if (absl::Status refused = manager_internal::CheckAccessRules(rules, space, base + offset, size);
      !refused.ok()) {
    manager_internal::CountError(counter, static_cast<int>(refused.code()));
    if constexpr (!kWrite) FillFailedRead(data);
    return refused;
  }
  if constexpr (kCount) manager_internal::CountAccess<kWrite>(counter, size);
  if (size > rules.impl_max_size) {  // split, in ascending address order
    for (size_t at = 0; at < size; at += rules.impl_max_size) {
      call(device, base, offset + at, data.subspan(at, rules.impl_max_size));
    }
  } else if (size < rules.impl_min_size) {  // widened, inside the range
    const uint64_t aligned = offset & ~uint64_t{rules.impl_min_size - 1u};
    const size_t at = offset - aligned;
    uint8_t wide[8] = {};
    if constexpr (kWrite) {
      std::memcpy(wide + at, data.data(), size);
      call(device, base, aligned, absl::Span<const uint8_t>(wide, rules.impl_min_size));
    } else {
      call(device, base, aligned, absl::Span<uint8_t>(wide, rules.impl_min_size));
      std::memcpy(data.data(), wide + at, size);
    }
  } else {
    call(device, base, offset, data);
  }
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
