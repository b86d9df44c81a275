// The KVM backend of the mini VMM: one VM, one vCPU per thread, real mode.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "examples/cpu_backend.h"

namespace dbs::minivmm {
namespace {

absl::Status Errno(const char* what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

class KvmBackend : public CpuBackend {
 public:
  ~KvmBackend() override {
    if (vm_ >= 0) close(vm_);
    if (kvm_ >= 0) close(kvm_);
  }

  absl::Status Init(uint8_t* memory, size_t size) {
    kvm_ = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_ < 0) return Errno("open /dev/kvm");
    if (ioctl(kvm_, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
      return absl::UnavailableError("unexpected KVM API version");
    }
    vm_ = ioctl(kvm_, KVM_CREATE_VM, 0);
    if (vm_ < 0) return Errno("KVM_CREATE_VM");
    (void)ioctl(vm_, KVM_SET_TSS_ADDR, 0xfffbd000ul);  // real mode on older Intel hosts
    kvm_userspace_memory_region region{};
    region.slot = 0;
    region.guest_phys_addr = 0;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<uint64_t>(memory);
    if (ioctl(vm_, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
      return Errno("KVM_SET_USER_MEMORY_REGION");
    }
    run_size_ = ioctl(kvm_, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size_ <= 0) return Errno("KVM_GET_VCPU_MMAP_SIZE");
    return absl::OkStatus();
  }

  std::string name() const override { return "kvm"; }

  absl::StatusOr<VcpuResult> RunVcpu(int index, const VcpuRegisters& start,
                                     ExitHandler& handler) override {
    const int vcpu = ioctl(vm_, KVM_CREATE_VCPU, index);
    if (vcpu < 0) return Errno("KVM_CREATE_VCPU");
    auto* run = static_cast<kvm_run*>(
        mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0));
    if (run == MAP_FAILED) {
      close(vcpu);
      return Errno("mmap kvm_run");
    }
    absl::StatusOr<VcpuResult> result = Loop(vcpu, run, index, start, handler);
    munmap(run, run_size_);
    close(vcpu);
    return result;
  }

 private:
  // Real-mode segments: base = selector * 16.
  static void SetSegment(kvm_segment& segment, uint16_t selector) {
    segment.selector = selector;
    segment.base = uint64_t{selector} * 16;
  }

  absl::Status SetRegisters(int vcpu, const VcpuRegisters& r) {
    kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) return Errno("KVM_GET_SREGS");
    SetSegment(sregs.cs, r.cs);
    SetSegment(sregs.ds, r.ds);
    SetSegment(sregs.es, r.es);
    SetSegment(sregs.ss, r.ss);
    SetSegment(sregs.fs, r.fs);
    SetSegment(sregs.gs, r.gs);
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) return Errno("KVM_SET_SREGS");
    kvm_regs regs{};
    regs.rax = r.ax;
    regs.rbx = r.bx;
    regs.rcx = r.cx;
    regs.rdx = r.dx;
    regs.rsi = r.si;
    regs.rdi = r.di;
    regs.rbp = r.bp;
    regs.rsp = r.sp;
    regs.rip = r.ip;
    regs.rflags = r.flags | 0x2;
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) return Errno("KVM_SET_REGS");
    return absl::OkStatus();
  }

  // The registers once the last exit has completed: an IN's value reaches its register on
  // the next KVM_RUN, so one is made with immediate_exit set (it returns at once, EINTR).
  absl::StatusOr<VcpuRegisters> GetRegisters(int vcpu, kvm_run* run) {
    run->immediate_exit = 1;
    const int ran = ioctl(vcpu, KVM_RUN, 0);
    run->immediate_exit = 0;
    if (ran < 0 && errno != EINTR) return Errno("KVM_RUN (completing the last exit)");
    kvm_regs regs;
    kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0) return Errno("KVM_GET_REGS");
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) return Errno("KVM_GET_SREGS");
    VcpuRegisters r;
    r.ax = static_cast<uint16_t>(regs.rax);
    r.bx = static_cast<uint16_t>(regs.rbx);
    r.cx = static_cast<uint16_t>(regs.rcx);
    r.dx = static_cast<uint16_t>(regs.rdx);
    r.si = static_cast<uint16_t>(regs.rsi);
    r.di = static_cast<uint16_t>(regs.rdi);
    r.bp = static_cast<uint16_t>(regs.rbp);
    r.sp = static_cast<uint16_t>(regs.rsp);
    r.ip = static_cast<uint16_t>(regs.rip);
    r.flags = static_cast<uint16_t>(regs.rflags);
    r.cs = sregs.cs.selector;
    r.ds = sregs.ds.selector;
    r.es = sregs.es.selector;
    r.ss = sregs.ss.selector;
    r.fs = sregs.fs.selector;
    r.gs = sregs.gs.selector;
    return r;
  }

  absl::StatusOr<VcpuResult> Loop(int vcpu, kvm_run* run, int index, const VcpuRegisters& start,
                                  ExitHandler& handler) {
    if (absl::Status s = SetRegisters(vcpu, start); !s.ok()) return s;
    VcpuResult result;
    uint64_t& exits = result.exits;
    auto finish = [&](bool halted) -> absl::StatusOr<VcpuResult> {
      result.halted = halted;
      absl::StatusOr<VcpuRegisters> regs = GetRegisters(vcpu, run);
      if (!regs.ok()) return regs.status();
      result.registers = *regs;
      return result;
    };
    while (true) {
      if (ioctl(vcpu, KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return Errno("KVM_RUN");
      }
      switch (run->exit_reason) {
        case KVM_EXIT_HLT:
          return finish(/*halted=*/true);
        case KVM_EXIT_IO: {
          auto* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
          for (uint32_t i = 0; i < run->io.count; ++i, data += run->io.size) {
            ++exits;
            uint64_t value = 0;
            if (run->io.direction == KVM_EXIT_IO_OUT) {
              std::memcpy(&value, data, run->io.size);
              handler.Out(run->io.port, run->io.size, value);
            } else {
              value = handler.In(run->io.port, run->io.size);
              std::memcpy(data, &value, run->io.size);
            }
          }
          break;
        }
        case KVM_EXIT_MMIO: {
          ++exits;
          uint64_t value = 0;
          if (run->mmio.is_write) {
            std::memcpy(&value, run->mmio.data, run->mmio.len);
            handler.MmioWrite(run->mmio.phys_addr, run->mmio.len, value);
          } else {
            value = handler.MmioRead(run->mmio.phys_addr, run->mmio.len);
            std::memcpy(run->mmio.data, &value, run->mmio.len);
          }
          break;
        }
        case KVM_EXIT_INTR:
          break;
        default:
          return absl::InternalError(
              absl::StrCat("vCPU ", index, ": unexpected KVM exit ", run->exit_reason));
      }
      if (handler.ShouldStop()) return finish(/*halted=*/false);
    }
  }

  int kvm_ = -1;
  int vm_ = -1;
  int run_size_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CpuBackend>> MakeKvmBackend(uint8_t* memory, size_t size) {
  auto backend = std::make_unique<KvmBackend>();
  if (absl::Status s = backend->Init(memory, size); !s.ok()) return s;
  return backend;
}

}  // namespace dbs::minivmm
