// manager/internal/dispatch.h — IoManager's dispatch path, inline so that a vCPU loop pays
// no call for the lookup. Included by manager/io_manager.h only.

#ifndef DBS_DEVICE_MANAGER_INTERNAL_DISPATCH_H_
#define DBS_DEVICE_MANAGER_INTERNAL_DISPATCH_H_

#include <cstdint>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "dbs_device/bus/rcu.h"
#include "dbs_device/manager/internal/dispatch_stats.h"
#include "dbs_device/manager/io_manager.h"

namespace dbs {

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
  const Bus::Generation& generation = bus_.Current(section);
  const Bus::LookupResult hit = generation.Find(space, address, length);
  if (ABSL_PREDICT_FALSE(!hit.ok())) {
    // Moved into the result rather than returned directly: the call writes the error into
    // a temporary, so the result's address never escapes and the path that succeeds keeps
    // it in a register instead of storing and reloading it.
    absl::Status error = DispatchError(generation, space, address, length);
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

#endif  // DBS_DEVICE_MANAGER_INTERNAL_DISPATCH_H_
