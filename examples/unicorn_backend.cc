// The Unicorn backend of the mini VMM: one engine per vCPU thread, sharing guest memory.
#include <unicorn/unicorn.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "examples/cpu_backend.h"

namespace dbs::minivmm {
namespace {

struct Vcpu {
  ExitHandler* handler;
  uint64_t mmio_base;
  uint64_t exits = 0;
  bool exact = false;         // stop at an instruction boundary, every register exact
  bool stop_pending = false;  // an exit asked to stop; the next instruction does
};

// After an exit: stop if the handler says so. Inside an I/O hook Unicorn's IP is that of
// the translation block's start, not past the instruction, so a stop there would save
// registers that do not resume the guest; an exact stop waits for the next instruction's
// code hook, where IP is exact and that instruction has not run yet.
void MaybeStop(uc_engine* uc, Vcpu& v) {
  if (!v.handler->ShouldStop()) return;
  if (v.exact) {
    v.stop_pending = true;
  } else {
    uc_emu_stop(uc);
  }
}

void OnCode(uc_engine* uc, uint64_t, uint32_t, void* user) {
  if (static_cast<Vcpu*>(user)->stop_pending) uc_emu_stop(uc);
}

uint32_t OnIn(uc_engine* uc, uint32_t port, int size, void* user) {
  auto* v = static_cast<Vcpu*>(user);
  ++v->exits;
  const uint64_t value = v->handler->In(static_cast<uint16_t>(port), size);
  MaybeStop(uc, *v);
  return static_cast<uint32_t>(value);
}

void OnOut(uc_engine* uc, uint32_t port, int size, uint32_t value, void* user) {
  auto* v = static_cast<Vcpu*>(user);
  ++v->exits;
  v->handler->Out(static_cast<uint16_t>(port), size, value);
  MaybeStop(uc, *v);
}

uint64_t OnMmioRead(uc_engine* uc, uint64_t offset, unsigned size, void* user) {
  auto* v = static_cast<Vcpu*>(user);
  ++v->exits;
  const uint64_t value = v->handler->MmioRead(v->mmio_base + offset, static_cast<int>(size));
  MaybeStop(uc, *v);
  return value;
}

void OnMmioWrite(uc_engine* uc, uint64_t offset, unsigned size, uint64_t value, void* user) {
  auto* v = static_cast<Vcpu*>(user);
  ++v->exits;
  v->handler->MmioWrite(v->mmio_base + offset, static_cast<int>(size), value);
  MaybeStop(uc, *v);
}

absl::Status UcError(const char* what, uc_err err) {
  return absl::InternalError(absl::StrCat(what, ": ", uc_strerror(err)));
}

class UnicornBackend : public CpuBackend {
 public:
  UnicornBackend(uint8_t* memory, size_t size, uint64_t mmio_base, uint64_t mmio_size)
      : memory_(memory), size_(size), mmio_base_(mmio_base), mmio_size_(mmio_size) {}

  std::string name() const override { return "unicorn"; }

  absl::StatusOr<VcpuResult> RunVcpu(int index, const VcpuRegisters& start,
                                     ExitHandler& handler) override {
    uc_engine* uc = nullptr;
    if (uc_err err = uc_open(UC_ARCH_X86, UC_MODE_16, &uc); err != UC_ERR_OK) {
      return UcError("uc_open", err);
    }
    Vcpu vcpu{&handler, mmio_base_};
    vcpu.exact = handler.StopsExactly();
    absl::StatusOr<VcpuResult> result = Run(uc, vcpu, index, start);
    uc_close(uc);
    return result;
  }

 private:
  // Each register: Unicorn's id and where VcpuRegisters keeps it.
  struct Register {
    int id;
    uint16_t VcpuRegisters::*field;
  };
  static constexpr Register kRegisters[] = {
      {UC_X86_REG_AX, &VcpuRegisters::ax}, {UC_X86_REG_BX, &VcpuRegisters::bx},
      {UC_X86_REG_CX, &VcpuRegisters::cx}, {UC_X86_REG_DX, &VcpuRegisters::dx},
      {UC_X86_REG_SI, &VcpuRegisters::si}, {UC_X86_REG_DI, &VcpuRegisters::di},
      {UC_X86_REG_BP, &VcpuRegisters::bp}, {UC_X86_REG_SP, &VcpuRegisters::sp},
      {UC_X86_REG_IP, &VcpuRegisters::ip}, {UC_X86_REG_FLAGS, &VcpuRegisters::flags},
      {UC_X86_REG_CS, &VcpuRegisters::cs}, {UC_X86_REG_DS, &VcpuRegisters::ds},
      {UC_X86_REG_ES, &VcpuRegisters::es}, {UC_X86_REG_SS, &VcpuRegisters::ss},
      {UC_X86_REG_FS, &VcpuRegisters::fs}, {UC_X86_REG_GS, &VcpuRegisters::gs},
  };

  absl::StatusOr<VcpuResult> Run(uc_engine* uc, Vcpu& vcpu, int index, const VcpuRegisters& start) {
    if (uc_err err = uc_mem_map_ptr(uc, 0, size_, UC_PROT_ALL, memory_); err != UC_ERR_OK) {
      return UcError("uc_mem_map_ptr", err);
    }
    if (uc_err err = uc_mmio_map(uc, mmio_base_, mmio_size_, OnMmioRead, &vcpu, OnMmioWrite, &vcpu);
        err != UC_ERR_OK) {
      return UcError("uc_mmio_map", err);
    }
    uc_hook in_hook, out_hook;
    if (uc_err err = uc_hook_add(uc, &in_hook, UC_HOOK_INSN, reinterpret_cast<void*>(OnIn), &vcpu,
                                 1, 0, UC_X86_INS_IN);
        err != UC_ERR_OK) {
      return UcError("uc_hook_add IN", err);
    }
    if (uc_err err = uc_hook_add(uc, &out_hook, UC_HOOK_INSN, reinterpret_cast<void*>(OnOut), &vcpu,
                                 1, 0, UC_X86_INS_OUT);
        err != UC_ERR_OK) {
      return UcError("uc_hook_add OUT", err);
    }
    if (vcpu.exact) {
      uc_hook code_hook;
      if (uc_err err = uc_hook_add(uc, &code_hook, UC_HOOK_CODE, reinterpret_cast<void*>(OnCode),
                                   &vcpu, 1, 0);
          err != UC_ERR_OK) {
        return UcError("uc_hook_add CODE", err);
      }
    }
    for (const Register& r : kRegisters) {
      uint64_t value = start.*r.field;
      if (uc_err err = uc_reg_write(uc, r.id, &value); err != UC_ERR_OK) {
        return UcError("uc_reg_write", err);
      }
    }
    // HLT ends the run; so does uc_emu_stop from a hook, once the instructions of the
    // current translation block have run (their exits still go to the handler).
    const uint64_t linear = uint64_t{start.cs} * 16 + start.ip;
    if (uc_err err = uc_emu_start(uc, linear, ~uint64_t{0}, 0, 0); err != UC_ERR_OK) {
      return UcError(absl::StrCat("vCPU ", index, " uc_emu_start").c_str(), err);
    }
    VcpuResult result;
    result.exits = vcpu.exits;
    for (const Register& r : kRegisters) {
      uint64_t value = 0;
      if (uc_err err = uc_reg_read(uc, r.id, &value); err != UC_ERR_OK) {
        return UcError("uc_reg_read", err);
      }
      result.registers.*r.field = static_cast<uint16_t>(value);
    }
    result.halted = !vcpu.handler->ShouldStop();  // HLT ends a run with nothing asking to stop
    return result;
  }

  uint8_t* memory_;
  size_t size_;
  uint64_t mmio_base_;
  uint64_t mmio_size_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CpuBackend>> MakeUnicornBackend(uint8_t* memory, size_t size,
                                                               uint64_t mmio_base,
                                                               uint64_t mmio_size) {
  return std::make_unique<UnicornBackend>(memory, size, mmio_base, mmio_size);
}

}  // namespace dbs::minivmm
