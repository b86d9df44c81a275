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
};

uint32_t OnIn(uc_engine* uc, uint32_t port, int size, void* user) {
  auto* v = static_cast<Vcpu*>(user);
  ++v->exits;
  const uint64_t value = v->handler->In(static_cast<uint16_t>(port), size);
  if (v->handler->ShouldStop()) uc_emu_stop(uc);
  return static_cast<uint32_t>(value);
}

void OnOut(uc_engine* uc, uint32_t port, int size, uint32_t value, void* user) {
  auto* v = static_cast<Vcpu*>(user);
  ++v->exits;
  v->handler->Out(static_cast<uint16_t>(port), size, value);
  if (v->handler->ShouldStop()) uc_emu_stop(uc);
}

uint64_t OnMmioRead(uc_engine* uc, uint64_t offset, unsigned size, void* user) {
  auto* v = static_cast<Vcpu*>(user);
  ++v->exits;
  const uint64_t value = v->handler->MmioRead(v->mmio_base + offset, static_cast<int>(size));
  if (v->handler->ShouldStop()) uc_emu_stop(uc);
  return value;
}

void OnMmioWrite(uc_engine* uc, uint64_t offset, unsigned size, uint64_t value, void* user) {
  auto* v = static_cast<Vcpu*>(user);
  ++v->exits;
  v->handler->MmioWrite(v->mmio_base + offset, static_cast<int>(size), value);
  if (v->handler->ShouldStop()) uc_emu_stop(uc);
}

absl::Status UcError(const char* what, uc_err err) {
  return absl::InternalError(absl::StrCat(what, ": ", uc_strerror(err)));
}

class UnicornBackend : public CpuBackend {
 public:
  UnicornBackend(uint8_t* memory, size_t size, uint64_t mmio_base, uint64_t mmio_size)
      : memory_(memory), size_(size), mmio_base_(mmio_base), mmio_size_(mmio_size) {}

  std::string name() const override { return "unicorn"; }

  absl::StatusOr<uint64_t> RunVcpu(int index, uint16_t entry, ExitHandler& handler) override {
    uc_engine* uc = nullptr;
    if (uc_err err = uc_open(UC_ARCH_X86, UC_MODE_16, &uc); err != UC_ERR_OK) {
      return UcError("uc_open", err);
    }
    Vcpu vcpu{&handler, mmio_base_};
    absl::StatusOr<uint64_t> result = Run(uc, vcpu, index, entry);
    uc_close(uc);
    return result;
  }

 private:
  absl::StatusOr<uint64_t> Run(uc_engine* uc, Vcpu& vcpu, int index, uint16_t entry) {
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
    int zero = 0;
    int si = index;
    int sp = 0x8000;
    uc_reg_write(uc, UC_X86_REG_CS, &zero);
    uc_reg_write(uc, UC_X86_REG_SI, &si);
    uc_reg_write(uc, UC_X86_REG_SP, &sp);
    // HLT ends the run; so does uc_emu_stop from a hook.
    if (uc_err err = uc_emu_start(uc, entry, ~uint64_t{0}, 0, 0); err != UC_ERR_OK) {
      return UcError(absl::StrCat("vCPU ", index, " uc_emu_start").c_str(), err);
    }
    return vcpu.exits;
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
