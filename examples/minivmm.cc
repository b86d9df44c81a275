// minivmm: guest code on several vCPUs, every I/O exit going through dbs_device.
//
//   ./bazelw run -c opt //examples:minivmm -- --guest=hello
//   ./bazelw run -c opt //examples:minivmm -- --guest=stress --vcpus=2 --seconds=10 --cpu=unicorn
//
// Guest RAM (640 KiB) is shared by all vCPUs, one thread each, on KVM or on the Unicorn CPU
// emulator (--cpu=kvm|unicorn|auto; auto picks KVM where /dev/kvm opens and says which).
// Devices are created through DeviceManager from a ResourceManager: the 16550A at COM1 with
// IRQ 4 (its output on stdout), the i8042 (its reset request stops the VM), the CMOS RTC
// (the host's clock), and, for the stress guest, echo and control devices. Every exit is
// dispatched by IoManager; accesses that hit no device read as all ones.
//
// Guests (examples/guests/*.S, assembled by the build):
//   hello   detects the UART like Linux's 8250 autoconfig, prints what it found, a banner
//           and the RTC's date, then resets through the i8042. Exit status 0 on the reset.
//   stress  every vCPU checks echo registers over PIO and MMIO in a loop while a host thread
//           hot-adds, removes and moves devices; ends with one line per vCPU and a total,
//           `mismatches: N`. Exit status 0 when N is 0.
//
// Snapshots (the hello guest, on either backend):
//   minivmm --guest=hello --snapshot-after=60 --snapshot-file=vm.snap   saves the VM once
//       60 exits have completed (guest RAM, the vCPU's registers, every device through
//       DeviceManager::Snapshot) and exits;
//   minivmm --restore=vm.snap   resumes it in this new process and runs it to its end, which
//       is the end an uninterrupted run reaches: the same console output.
// --console=FILE appends the guest's serial output to FILE instead of stdout, so the output
// of a saved run and of its resumption can be put together and compared. Flags may be
// spelt with '-' or '_'.

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "dbs_device/devices/cmos_rtc.h"
#include "dbs_device/devices/dummy.h"
#include "dbs_device/devices/i8042.h"
#include "dbs_device/devices/serial16550.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/manager/snapshot.h"
#include "dbs_device/resources/resource_manager.h"
#include "examples/cpu_backend.h"
#include "examples/vm_snapshot.pb.h"

ABSL_FLAG(std::string, guest, "hello", "the guest to run: hello or stress");
ABSL_FLAG(std::string, cpu, "auto",
          "the vCPU backend: kvm, unicorn, or auto (KVM if /dev/kvm opens)");
ABSL_FLAG(int, vcpus, 1, "vCPU threads (the stress guest)");
ABSL_FLAG(double, seconds, 10, "how long the stress guest runs");
ABSL_FLAG(uint64_t, snapshot_after, 0,
          "save the VM to --snapshot_file once this many exits have completed, and exit "
          "(the hello guest; 0: never)");
ABSL_FLAG(std::string, snapshot_file, "minivmm.snap", "where --snapshot_after saves the VM");
ABSL_FLAG(std::string, restore, "",
          "resume the VM saved in this file (by --snapshot_after, on the same backend)");
ABSL_FLAG(std::string, console, "",
          "append the guest's serial output to this file instead of writing it to stdout");

namespace dbs::minivmm {
namespace {

constexpr size_t kMemorySize = 0xa0000;  // 640 KiB of RAM below the ISA hole
constexpr uint16_t kEntry = 0x1000;
constexpr uint64_t kMmioBase = 0xc0000;  // the MMIO window the guests use (real mode)
constexpr uint64_t kMmioSize = 0x30000;
constexpr int kMaxVcpus = 8;

// Which vCPU the calling thread runs (for devices that answer per vCPU).
thread_local int tls_vcpu = -1;

// 16-bit registers that read back what was written, at PIO and MMIO offsets.
class EchoDevice : public DeviceIoMut {
 public:
  void PioRead(PioAddress, PioAddress offset, absl::Span<uint8_t> data) override {
    Get(offset.raw_value(), data);
  }
  void PioWrite(PioAddress, PioAddress offset, absl::Span<const uint8_t> data) override {
    Put(offset.raw_value(), data);
  }
  void Read(IoAddress, IoAddress offset, absl::Span<uint8_t> data) override {
    Get(0x100 + offset.raw_value(), data);
  }
  void Write(IoAddress, IoAddress offset, absl::Span<const uint8_t> data) override {
    Put(0x100 + offset.raw_value(), data);
  }

 private:
  void Get(uint64_t at, absl::Span<uint8_t> data) {
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = at + i < sizeof(bytes_) ? bytes_[at + i] : 0xff;
  }
  void Put(uint64_t at, absl::Span<const uint8_t> data) {
    for (size_t i = 0; i < data.size(); ++i) {
      if (at + i < sizeof(bytes_)) bytes_[at + i] = data[i];
    }
  }
  uint8_t bytes_[0x100 + kMaxVcpus * 0x100] = {};
};

// Offset 0 (write): the calling vCPU's mismatch count. Offset 2 (read): non-zero to stop.
class ControlDevice : public DeviceIo {
 public:
  void PioWrite(PioAddress, PioAddress offset, absl::Span<const uint8_t> data) override {
    if (offset.raw_value() != 0 || tls_vcpu < 0) return;
    uint64_t v = 0;
    for (size_t i = 0; i < data.size() && i < 8; ++i) v |= uint64_t{data[i]} << (8 * i);
    mismatches[tls_vcpu] = v;
    reported[tls_vcpu] = true;
  }
  void PioRead(PioAddress, PioAddress offset, absl::Span<uint8_t> data) override {
    const bool stop = offset.raw_value() == 2 && stop_requested.load(std::memory_order_relaxed);
    for (uint8_t& b : data) b = 0;
    if (!data.empty()) data[0] = stop ? 1 : 0;
  }
  std::atomic<bool> stop_requested{false};
  std::atomic<uint64_t> mismatches[kMaxVcpus] = {};
  std::atomic<bool> reported[kMaxVcpus] = {};
};

struct VcpuStats {
  uint64_t exits = 0;
  uint64_t unclaimed = 0;
  double seconds = 0;
  double dispatch_seconds = 0;
};

// One vCPU's exits, dispatched through IoManager.
class VcpuExits : public ExitHandler {
 public:
  VcpuExits(IoManager& io, std::atomic<bool>& reset, ControlDevice* control, int index)
      : io_(io), reset_(reset), control_(control), index_(index) {}

  uint64_t In(uint16_t port, int size) override {
    uint8_t data[8] = {};
    Time([&] { return io_.PioRead(port, absl::MakeSpan(data, size)); }, data, size);
    return Value(data, size);
  }
  void Out(uint16_t port, int size, uint64_t value) override {
    uint8_t data[8];
    Bytes(value, data, size);
    Time([&] { return io_.PioWrite(port, absl::MakeConstSpan(data, size)); }, nullptr, 0);
  }
  uint64_t MmioRead(uint64_t address, int size) override {
    uint8_t data[8] = {};
    Time([&] { return io_.MmioRead(address, absl::MakeSpan(data, size)); }, data, size);
    return Value(data, size);
  }
  void MmioWrite(uint64_t address, int size, uint64_t value) override {
    uint8_t data[8];
    Bytes(value, data, size);
    Time([&] { return io_.MmioWrite(address, absl::MakeConstSpan(data, size)); }, nullptr, 0);
  }
  bool ShouldStop() override {
    return reset_.load(std::memory_order_relaxed) ||
           (control_ != nullptr && control_->reported[index_].load(std::memory_order_relaxed)) ||
           (stop_after > 0 && taken >= stop_after);
  }
  bool StopsExactly() const override { return stop_after > 0; }
  VcpuStats stats;
  uint64_t taken = 0;       // exits handled
  uint64_t stop_after = 0;  // stop once this many are handled (0: never)

 private:
  template <typename F>
  void Time(F&& dispatch, uint8_t* data, int size) {
    ++taken;
    const auto start = std::chrono::steady_clock::now();
    const absl::Status status = dispatch();
    stats.dispatch_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!status.ok()) {
      ++stats.unclaimed;
      if (data != nullptr) std::memset(data, 0xff, size);  // a floating bus reads all ones
    }
  }
  static uint64_t Value(const uint8_t* data, int size) {
    uint64_t v = 0;
    for (int i = 0; i < size; ++i) v |= uint64_t{data[i]} << (8 * i);
    return v;
  }
  static void Bytes(uint64_t value, uint8_t* data, int size) {
    for (int i = 0; i < size; ++i) data[i] = static_cast<uint8_t>(value >> (8 * i));
  }

  IoManager& io_;
  std::atomic<bool>& reset_;
  ControlDevice* control_;
  int index_;
};

std::string GuestPath(const char* argv0, const std::string& guest) {
  const std::string rel = "examples/guests/" + guest + ".bin";
  std::vector<std::string> candidates;
  if (const char* dir = std::getenv("RUNFILES_DIR"))
    candidates.push_back(std::string(dir) + "/dbs_device/" + rel);
  if (const char* dir = std::getenv("TEST_SRCDIR"))
    candidates.push_back(std::string(dir) + "/dbs_device/" + rel);
  candidates.push_back(std::string(argv0) + ".runfiles/dbs_device/" + rel);
  candidates.push_back(rel);
  for (const std::string& c : candidates) {
    if (std::ifstream(c).good()) return c;
  }
  return rel;
}

std::vector<ResourceConstraint> Exact(uint16_t port, uint16_t size) {
  return {PioConstraint{size, 1,
                        AddressWindow<PioAddress>{port, static_cast<uint16_t>(port + size - 1)}}};
}

// The VM as --snapshot-after saves it: a "MVMM" payload in the library's snapshot
// envelope (checksummed and versioned), the device snapshot inside it sealed on its own.
std::string SaveVm(const std::string& guest, const uint8_t* memory, const VcpuRegisters& r,
                   const std::string& devices, uint64_t exits) {
  saved::VmSnapshot vm;
  vm.set_guest(guest);
  vm.set_memory(memory, kMemorySize);
  saved::VcpuRegisters* out = vm.add_vcpus();
  for (uint16_t VcpuRegisters::*field : kVcpuRegisterFields) out->add_values(r.*field);
  vm.set_devices(devices);
  vm.set_exits(exits);
  return SealSnapshot("MVMM", vm.SerializeAsString());
}

absl::StatusOr<saved::VmSnapshot> LoadVm(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open " + path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::StatusOr<absl::string_view> payload = UnsealSnapshot(bytes, "MVMM");
  if (!payload.ok()) return payload.status();
  saved::VmSnapshot vm;
  if (!vm.ParseFromArray(payload->data(), static_cast<int>(payload->size())) ||
      vm.memory().size() != kMemorySize || vm.vcpus_size() != 1 ||
      vm.vcpus(0).values_size() != static_cast<int>(std::size(kVcpuRegisterFields))) {
    return absl::InvalidArgumentError(path + " holds no VM of this mini VMM");
  }
  return vm;
}

// REQUIRES: `in` holds every register (LoadVm checks).
VcpuRegisters RegistersOf(const saved::VcpuRegisters& in) {
  VcpuRegisters r;
  int i = 0;
  for (uint16_t VcpuRegisters::*field : kVcpuRegisterFields) {
    r.*field = static_cast<uint16_t>(in.values(i++));
  }
  return r;
}

int Main(const char* argv0) {
  const std::string restore = absl::GetFlag(FLAGS_restore);
  const uint64_t snapshot_after = absl::GetFlag(FLAGS_snapshot_after);
  std::optional<saved::VmSnapshot> saved;
  if (!restore.empty()) {
    absl::StatusOr<saved::VmSnapshot> vm = LoadVm(restore);
    if (!vm.ok()) {
      std::fprintf(stderr, "minivmm: %s\n", vm.status().ToString().c_str());
      return 1;
    }
    saved = *std::move(vm);
  }
  const std::string guest = saved ? saved->guest() : absl::GetFlag(FLAGS_guest);
  const std::string cpu = absl::GetFlag(FLAGS_cpu);
  const int vcpus = saved ? 1 : absl::GetFlag(FLAGS_vcpus);
  if ((snapshot_after > 0 || saved) && (guest != "hello" || vcpus != 1)) {
    std::fprintf(stderr, "minivmm: snapshots are for the hello guest on one vCPU\n");
    return 2;
  }
  FILE* console = stdout;
  if (const std::string path = absl::GetFlag(FLAGS_console); !path.empty()) {
    console = std::fopen(path.c_str(), "ab");
    if (console == nullptr) {
      std::fprintf(stderr, "minivmm: cannot open %s\n", path.c_str());
      return 1;
    }
  }
  const double seconds = absl::GetFlag(FLAGS_seconds);
  if (!(seconds > 0)) {
    std::fprintf(stderr, "minivmm: --seconds must be positive, not %g\n", seconds);
    return 2;
  }
  if (vcpus < 1 || vcpus > kMaxVcpus || (guest != "hello" && guest != "stress") ||
      (cpu != "kvm" && cpu != "unicorn" && cpu != "auto")) {
    std::fprintf(stderr, "minivmm: bad arguments\n");
    return 2;
  }

  // Guest memory, with the guest image at 0x1000.
  auto* memory = static_cast<uint8_t*>(
      mmap(nullptr, kMemorySize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (memory == MAP_FAILED) return 1;
  if (saved) {
    std::memcpy(memory, saved->memory().data(), kMemorySize);
  } else {
    const std::string path = GuestPath(argv0, guest);
    std::ifstream in(path, std::ios::binary);
    std::vector<char> image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (image.empty() || image.size() > 0x7000) {
      std::fprintf(stderr, "minivmm: cannot load guest %s\n", path.c_str());
      return 1;
    }
    std::memcpy(memory + kEntry, image.data(), image.size());
  }

  std::unique_ptr<CpuBackend> backend;
  if (cpu == "kvm" || cpu == "auto") {
    absl::StatusOr<std::unique_ptr<CpuBackend>> kvm = MakeKvmBackend(memory, kMemorySize);
    if (kvm.ok()) {
      backend = *std::move(kvm);
    } else if (cpu == "kvm") {
      std::fprintf(stderr, "minivmm: KVM unavailable: %s\n", kvm.status().ToString().c_str());
      return 3;
    } else {
      std::printf("minivmm: KVM unavailable (%s); using Unicorn\n",
                  kvm.status().ToString().c_str());
    }
  }
  if (backend == nullptr) backend = *MakeUnicornBackend(memory, kMemorySize, kMmioBase, kMmioSize);
  std::printf("minivmm: guest %s, %d vCPU(s), CPU backend %s\n", guest.c_str(), vcpus,
              backend->name().c_str());
  std::fflush(stdout);

  // The machine, placed through DeviceManager.
  ResourceManagerConfig config;
  config.pio = {0, 0xffff};
  config.mmio = {{kMmioBase, kMmioBase + kMmioSize - 1}};
  config.legacy_irq = {0, 23};
  ResourceManager resources(config);
  IoManager io;
  DeviceManager devices(resources, io);
  std::atomic<bool> reset{false};
  auto add = [&](std::shared_ptr<Device> device) {
    absl::StatusOr<DeviceId> id = devices.AddDevice(std::move(device));
    if (!id.ok()) {
      std::fprintf(stderr, "minivmm: %s\n", id.status().ToString().c_str());
      std::exit(1);
    }
    return *id;
  };
  auto output = [console](uint8_t b) {
    std::fputc(b, console);
    if (b == '\n') std::fflush(console);
  };
  auto reset_request = [&reset] { reset.store(true); };
  const std::function<absl::Time()> clock = [] { return absl::Now(); };
  if (saved) {
    DeviceFactory factory;
    (void)factory.Register(Serial16550::kKind, RestoreManaged<Serial16550>(output));
    (void)factory.Register(I8042::kKind, RestoreManaged<I8042>(reset_request));
    (void)factory.Register(CmosRtc::kKind, RestoreManaged<CmosRtc>(clock));
    if (absl::Status s = devices.Restore(saved->devices(), factory); !s.ok()) {
      std::fprintf(stderr, "minivmm: restoring the devices: %s\n", s.ToString().c_str());
      return 1;
    }
    std::printf("minivmm: resumed %s after %llu exits, %zu devices\n", restore.c_str(),
                static_cast<unsigned long long>(saved->exits()), devices.device_count());
  } else {
    add(std::make_shared<ManagedDevice<Serial16550>>(
        "ttyS0", Serial16550::Constraints(serial16550::kCom1, serial16550::kCom1Irq), output));
    add(std::make_shared<ManagedDevice<I8042>>("i8042", I8042::Constraints(), reset_request));
    add(std::make_shared<ManagedDevice<CmosRtc>>("rtc", CmosRtc::Constraints(), clock));
  }
  std::shared_ptr<ControlDevice> control;
  if (guest == "stress") {
    std::vector<ResourceConstraint> echo = Exact(0x510, 0x10);
    echo.push_back(MmioConstraint{0x1000, 0x1000, AddressWindow<IoAddress>{0xd0000, 0xd0fff}});
    add(std::make_shared<ManagedDevice<EchoDevice>>("echo", echo));
    control = std::make_shared<ControlDevice>();
    if (!io.RegisterDeviceIo(control, {PioRange{0x520, 0x10}}).ok()) return 1;
  }

  // The hotplug thread (stress): DeviceManager adds and removes a device in the hotplug
  // area the guests touch, and a BAR-like range moves between two places.
  std::atomic<bool> stop_hotplug{false};
  std::atomic<uint64_t> hotplugs{0}, moves{0};
  std::thread hotplug;
  if (guest == "stress") {
    hotplug = std::thread([&] {
      auto bar = std::make_shared<MutexDevice<DummyDevice>>();
      uint64_t bar_at = 0xd4000;
      if (!io.RegisterDeviceIo(bar, {MmioRange{bar_at, 0x1000}}).ok()) std::abort();
      while (!stop_hotplug.load()) {
        auto dummy = std::make_shared<ManagedDevice<DummyDevice>>(
            "hotplug",
            std::vector<ResourceConstraint>{
                PioConstraint{8, 8, AddressWindow<PioAddress>{0x600, 0x6ff}},
                MmioConstraint{0x1000, 0x1000, AddressWindow<IoAddress>{0xd8000, 0xdffff}}});
        const DeviceId id = add(dummy);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        if (!devices.RemoveDevice(id).ok()) std::abort();
        const uint64_t to = bar_at == 0xd4000 ? 0xd5000 : 0xd4000;
        if (io.MoveDeviceIo(MmioRange{bar_at, 0x1000}, to).ok()) {
          bar_at = to;
          moves.fetch_add(1);
        }
        hotplugs.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    });
  }

  // The vCPUs.
  std::vector<std::unique_ptr<VcpuExits>> exits;
  for (int i = 0; i < vcpus; ++i) {
    exits.push_back(std::make_unique<VcpuExits>(io, reset, control.get(), i));
    exits.back()->stop_after = snapshot_after;
  }
  std::vector<VcpuResult> results(vcpus);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < vcpus; ++i) {
    threads.emplace_back([&, i] {
      tls_vcpu = i;
      const auto start = std::chrono::steady_clock::now();
      const VcpuRegisters registers =
          saved ? RegistersOf(saved->vcpus(i)) : VcpuRegisters::AtEntry(i, kEntry);
      absl::StatusOr<VcpuResult> n = backend->RunVcpu(i, registers, *exits[i]);
      exits[i]->stats.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!n.ok()) {
        std::fprintf(stderr, "minivmm: vCPU %d: %s\n", i, n.status().ToString().c_str());
        failures.fetch_add(1);
        reset.store(true);
        return;
      }
      exits[i]->stats.exits = n->exits;
      results[i] = *n;
    });
  }
  if (control != nullptr) {
    while (std::chrono::steady_clock::now() - started < std::chrono::duration<double>(seconds) &&
           failures.load() == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    control->stop_requested.store(true);
  }
  for (auto& t : threads) t.join();
  stop_hotplug.store(true);
  if (hotplug.joinable()) hotplug.join();
  std::fflush(stdout);
  if (failures.load() != 0) return 1;

  if (snapshot_after > 0) {
    const uint64_t taken = exits[0]->taken;
    if (reset.load() || results[0].halted) {
      std::printf("minivmm: the guest %s after %llu exits, before exit %llu; nothing saved\n",
                  reset.load() ? "reset the machine" : "halted",
                  static_cast<unsigned long long>(taken),
                  static_cast<unsigned long long>(snapshot_after));
      return 1;
    }
    absl::StatusOr<std::string> device_bytes = devices.Snapshot();
    if (!device_bytes.ok()) {
      std::fprintf(stderr, "minivmm: %s\n", device_bytes.status().ToString().c_str());
      return 1;
    }
    const uint64_t before = saved ? saved->exits() : 0;
    const std::string vm =
        SaveVm(guest, memory, results[0].registers, *device_bytes, before + taken);
    const std::string path = absl::GetFlag(FLAGS_snapshot_file);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(vm.data(), static_cast<std::streamsize>(vm.size()));
    if (!out.good()) {
      std::fprintf(stderr, "minivmm: cannot write %s\n", path.c_str());
      return 1;
    }
    std::printf("minivmm: saved the VM after %llu exits to %s (%zu bytes, devices %zu)\n",
                static_cast<unsigned long long>(before + taken), path.c_str(), vm.size(),
                device_bytes->size());
    return 0;
  }

  uint64_t total_exits = 0, total_mismatches = 0, total_unclaimed = 0;
  double longest = 0;
  for (int i = 0; i < vcpus; ++i) {
    const VcpuStats& s = exits[i]->stats;
    const uint64_t mismatches = control ? control->mismatches[i].load() : 0;
    std::printf(
        "vcpu %d: exits %llu, %.0f exits/s, %.0f ns/exit (%.0f%% in dispatch), "
        "no device %llu, mismatches: %llu\n",
        i, static_cast<unsigned long long>(s.exits), s.exits / s.seconds,
        s.seconds * 1e9 / std::max<uint64_t>(1, s.exits),
        100.0 * s.dispatch_seconds / std::max(1e-9, s.seconds),
        static_cast<unsigned long long>(s.unclaimed), static_cast<unsigned long long>(mismatches));
    total_exits += s.exits;
    total_mismatches += mismatches;
    total_unclaimed += s.unclaimed;
    longest = std::max(longest, s.seconds);
  }
  std::printf(
      "total: exits %llu, %.0f exits/s, no device %llu, hot-plugs %llu, moves %llu, "
      "mismatches: %llu\n",
      static_cast<unsigned long long>(total_exits), total_exits / longest,
      static_cast<unsigned long long>(total_unclaimed),
      static_cast<unsigned long long>(hotplugs.load()),
      static_cast<unsigned long long>(moves.load()),
      static_cast<unsigned long long>(total_mismatches));
  if (guest == "hello") {
    std::printf("minivmm: %s\n",
                reset.load() ? "the guest reset the machine" : "the guest halted without a reset");
    return reset.load() ? 0 : 1;
  }
  for (int i = 0; i < vcpus; ++i) {
    if (!control->reported[i].load()) {
      std::printf("minivmm: vCPU %d never reported\n", i);
      return 1;
    }
  }
  return total_mismatches == 0 ? 0 : 1;
}

}  // namespace
}  // namespace dbs::minivmm

int main(int argc, char** argv) {
  // --snapshot-after and --snapshot_after alike: Abseil's flag names use '_'.
  std::vector<std::string> args(argv, argv + argc);
  std::vector<char*> spelt;
  for (std::string& arg : args) {
    if (arg.rfind("--", 0) == 0) {
      const size_t end = std::min(arg.find('='), arg.size());
      std::replace(arg.begin() + 2, arg.begin() + static_cast<std::ptrdiff_t>(end), '-', '_');
    }
    spelt.push_back(arg.data());
  }
  argc = static_cast<int>(spelt.size());
  argv = spelt.data();
  absl::SetProgramUsageMessage(
      "Runs a 16-bit guest on KVM or Unicorn vCPUs, every exit through IoManager.\n"
      "  ./bazelw run -c opt //examples:minivmm -- --guest=stress --vcpus=2 --cpu=unicorn");
  absl::ParseCommandLine(argc, argv);
  return dbs::minivmm::Main(argv[0]);
}
