// examples/cpu_backend.h — the small CPU layer of the mini VMM: something that runs 16-bit
// real-mode guest code on a vCPU and turns its port I/O and MMIO into calls on an
// ExitHandler. Two implementations: KVM (/dev/kvm ioctls, KVM_EXIT_IO / KVM_EXIT_MMIO) and
// Unicorn (QEMU's TCG as a library: UC_HOOK_INSN for IN/OUT, uc_mmio_map for MMIO).
//
// This is an example, not part of the library: dbs_device never depends on it.
//
// Thread-safety: RunVcpu is called once per vCPU, each on its own thread, concurrently.

#ifndef DBS_DEVICE_EXAMPLES_CPU_BACKEND_H_
#define DBS_DEVICE_EXAMPLES_CPU_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace dbs::minivmm {

// Where one vCPU's exits go. Called on the vCPU's own thread.
class ExitHandler {
 public:
  virtual ~ExitHandler() = default;
  virtual uint64_t In(uint16_t port, int size) = 0;
  virtual void Out(uint16_t port, int size, uint64_t value) = 0;
  virtual uint64_t MmioRead(uint64_t address, int size) = 0;
  virtual void MmioWrite(uint64_t address, int size, uint64_t value) = 0;
  // True when this vCPU should stop at its next exit.
  virtual bool ShouldStop() = 0;
  // True when a stop must leave every register exact, to save the vCPU and resume it later.
  // Unicorn then runs a hook before every instruction, which costs; KVM needs nothing.
  virtual bool StopsExactly() const { return false; }
};

// What a snapshot keeps of a 16-bit real-mode vCPU: its registers (segment bases are the
// selectors times 16, as real mode has them).
struct VcpuRegisters {
  uint16_t ax = 0, bx = 0, cx = 0, dx = 0, si = 0, di = 0, bp = 0, sp = 0x8000;
  uint16_t ip = 0, flags = 0x2;
  uint16_t cs = 0, ds = 0, es = 0, ss = 0, fs = 0, gs = 0;

  // At 0:`entry` with SI = `index`, the stack below 0x8000: how every guest starts.
  static VcpuRegisters AtEntry(int index, uint16_t entry) {
    VcpuRegisters r;
    r.ip = entry;
    r.si = static_cast<uint16_t>(index);
    return r;
  }
};

// Every register of VcpuRegisters, in the order a saved VM stores them.
inline constexpr uint16_t VcpuRegisters::*kVcpuRegisterFields[] = {
    &VcpuRegisters::ax, &VcpuRegisters::bx,    &VcpuRegisters::cx, &VcpuRegisters::dx,
    &VcpuRegisters::si, &VcpuRegisters::di,    &VcpuRegisters::bp, &VcpuRegisters::sp,
    &VcpuRegisters::ip, &VcpuRegisters::flags, &VcpuRegisters::cs, &VcpuRegisters::ds,
    &VcpuRegisters::es, &VcpuRegisters::ss,    &VcpuRegisters::fs, &VcpuRegisters::gs,
};
static_assert(sizeof(VcpuRegisters) ==
                  sizeof(kVcpuRegisterFields) / sizeof(kVcpuRegisterFields[0]) * sizeof(uint16_t),
              "kVcpuRegisterFields names every register");

struct VcpuResult {
  uint64_t exits = 0;
  bool halted = false;      // the guest executed HLT (else the handler said stop)
  VcpuRegisters registers;  // where it stopped, after its last exit completed
};

class CpuBackend {
 public:
  virtual ~CpuBackend() = default;
  virtual std::string name() const = 0;
  // Runs vCPU `index` in real mode from `start` until it halts or its handler says stop.
  // The registers returned resume it exactly: every exit it took has completed.
  virtual absl::StatusOr<VcpuResult> RunVcpu(int index, const VcpuRegisters& start,
                                             ExitHandler& handler) = 0;
};

// Guest RAM is [0, memory_size) at `memory`, shared by every vCPU; MMIO exits are expected
// in [mmio_base, mmio_base + mmio_size).
absl::StatusOr<std::unique_ptr<CpuBackend>> MakeKvmBackend(uint8_t* memory, size_t memory_size);
absl::StatusOr<std::unique_ptr<CpuBackend>> MakeUnicornBackend(uint8_t* memory, size_t memory_size,
                                                               uint64_t mmio_base,
                                                               uint64_t mmio_size);

}  // namespace dbs::minivmm

#endif  // DBS_DEVICE_EXAMPLES_CPU_BACKEND_H_
