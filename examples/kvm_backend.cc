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

  absl::StatusOr<uint64_t> RunVcpu(int index, uint16_t entry, ExitHandler& handler) override {
    const int vcpu = ioctl(vm_, KVM_CREATE_VCPU, index);
    if (vcpu < 0) return Errno("KVM_CREATE_VCPU");
    auto* run = static_cast<kvm_run*>(
        mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0));
    if (run == MAP_FAILED) {
      close(vcpu);
      return Errno("mmap kvm_run");
    }
    absl::StatusOr<uint64_t> result = Loop(vcpu, run, index, entry, handler);
    munmap(run, run_size_);
    close(vcpu);
    return result;
  }

 private:
  absl::StatusOr<uint64_t> Loop(int vcpu, kvm_run* run, int index, uint16_t entry,
                                ExitHandler& handler) {
    kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) return Errno("KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) return Errno("KVM_SET_SREGS");
    kvm_regs regs{};
    regs.rip = entry;
    regs.rflags = 0x2;
    regs.rsi = static_cast<uint64_t>(index);
    regs.rsp = 0x8000;
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) return Errno("KVM_SET_REGS");
    uint64_t exits = 0;
    while (true) {
      if (ioctl(vcpu, KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return Errno("KVM_RUN");
      }
      switch (run->exit_reason) {
        case KVM_EXIT_HLT:
          return exits;
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
      if (handler.ShouldStop()) return exits;
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
