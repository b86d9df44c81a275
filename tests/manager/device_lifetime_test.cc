// When and where devices die: a device's destructor may call the IoManager and the
// DeviceManager (it runs with no lock of the library held), and a vCPU stalled inside a
// handler does not make memory grow with every publication.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/io_manager.h"
#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

// Runs `body` on a thread; a body that has not returned after `limit` is taken for a
// deadlock and ends the test binary (a deadlocked thread cannot be joined).
void RunOrDie(const char* what, std::function<void()> body,
              std::chrono::seconds limit = std::chrono::seconds(60)) {
  std::packaged_task<void()> task(std::move(body));
  std::future<void> done = task.get_future();
  std::thread thread(std::move(task));
  if (done.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "DEADLOCK: %s did not return within %llds\n", what,
                 static_cast<long long>(limit.count()));
    std::fflush(stderr);
    std::_Exit(1);
  }
  thread.join();
  done.get();
}

// A device whose destructor runs `on_destroy` (which calls back into the managers).
class CallsBack : public Device {
 public:
  explicit CallsBack(std::function<void()> on_destroy) : on_destroy_(std::move(on_destroy)) {}
  ~CallsBack() override { on_destroy_(); }

 private:
  std::function<void()> on_destroy_;
};

// Commits unrelated changes until `condition` holds: the RCU domain reclaims on some later
// commit (by time, bytes or count, depending on the version), on the committing thread.
void CommitUntil(IoManager& io, const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto filler = std::make_shared<Device>();
  const Resource range = MmioRange{0xf0000000, 0x10};
  while (!condition() && std::chrono::steady_clock::now() < deadline) {
    ASSERT_OK(io.RegisterDeviceIo(filler, {range}));
    ASSERT_OK(io.UnregisterDeviceIo({range}));
  }
  ASSERT_TRUE(condition()) << "no commit reclaimed the unregistered device within 20 s";
}

TEST(DeviceDestructorTest, MayCallTheIoManagerThatReclaimsIt) {
  RunOrDie("committing while a device's destructor calls device_count()", [] {
    IoManager io;
    std::atomic<bool> destroyed{false};
    size_t seen = 0;
    {
      auto device = std::make_shared<CallsBack>([&] {
        seen = io.device_count();  // takes the manager's mutex
        destroyed = true;
      });
      ASSERT_OK(io.RegisterDeviceIo(device, {PioRange{0x3f8, 8}}));
    }
    ASSERT_OK(io.UnregisterDeviceIo({PioRange{0x3f8, 8}}));
    CommitUntil(io, [&] { return destroyed.load(); });
    // The destroyed device is not counted (the filler CommitUntil registers may be).
    EXPECT_LE(seen, 1u);
  });
}

TEST(DeviceDestructorTest, MayUnregisterAChildDevice) {
  RunOrDie("committing while a device's destructor unregisters its child", [] {
    IoManager io;
    std::atomic<bool> destroyed{false};
    absl::Status child_removed = absl::UnknownError("not run");
    ASSERT_OK(io.RegisterDeviceIo(std::make_shared<Device>(), {PioRange{0x60, 1}}));
    {
      auto parent = std::make_shared<CallsBack>([&] {
        child_removed = io.UnregisterDeviceIo({PioRange{0x60, 1}});
        destroyed = true;
      });
      ASSERT_OK(io.RegisterDeviceIo(parent, {PioRange{0x3f8, 8}}));
    }
    ASSERT_OK(io.UnregisterDeviceIo({PioRange{0x3f8, 8}}));
    CommitUntil(io, [&] { return destroyed.load(); });
    EXPECT_OK(child_removed);
    EXPECT_EQ(io.FindDevice(AddressSpace::kPio, 0x60), nullptr);
    EXPECT_EQ(io.device_count(), 0u);
  });
}

TEST(DeviceDestructorTest, MayCallEveryPublicMethodOfBothManagers) {
  RunOrDie("a destructor calling both managers", [] {
    ResourceManager resources = ResourceManager::X86Defaults();
    IoManager io;
    DeviceManager devices(resources, io);
    std::atomic<bool> destroyed{false};
    std::vector<absl::Status> statuses;
    {
      auto device = std::make_shared<CallsBack>([&] {
        (void)io.device_count();
        (void)io.range_count();
        (void)io.FindDevice(AddressSpace::kPio, 0x3f8);
        (void)io.UnclaimedStats();
        (void)devices.device_count();
        (void)devices.DeviceIds();
        // Adds and removes a device of its own from inside the destructor.
        absl::StatusOr<DeviceId> id = devices.AddDevice(std::make_shared<Device>());
        statuses.push_back(id.status());
        if (id.ok()) statuses.push_back(devices.RemoveDevice(*id));
        destroyed = true;
      });
      ASSERT_OK(io.RegisterDeviceIo(device, {PioRange{0x3f8, 8}}));
    }
    ASSERT_OK(io.UnregisterDeviceIo({PioRange{0x3f8, 8}}));
    CommitUntil(io, [&] { return destroyed.load(); });
    ASSERT_EQ(statuses.size(), 2u);
    EXPECT_OK(statuses[0]);
    EXPECT_OK(statuses[1]);
    EXPECT_EQ(devices.device_count(), 0u);
  });
}

TEST(DeviceDestructorTest, RunsBeforeTheIoManagerIsGone) {
  size_t seen = 99;
  {
    IoManager io;
    auto device = std::make_shared<CallsBack>([&] { seen = io.range_count(); });
    ASSERT_OK(io.RegisterDeviceIo(device, {PioRange{0x3f8, 8}, MmioRange{0x1000, 0x10}}));
    device.reset();
    // ~IoManager unregisters every range and waits for a grace period, so the device dies
    // inside it, while the manager can still answer.
  }
  EXPECT_EQ(seen, 0u);
}

// A device whose handler blocks until released: a vCPU stalled inside a dispatch.
class BlockingDevice : public DeviceIo {
 public:
  void PioRead(PioAddress, PioAddress, absl::Span<uint8_t> data) override {
    std::unique_lock<std::mutex> lock(mu_);
    inside_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_; });
    data[0] = 0x42;
  }
  void WaitUntilInside() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return inside_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool inside_ = false;
  bool released_ = false;
};

// 20,000 published changes at 4,096 ranges while a vCPU is stalled inside a handler: what
// the RCU domain holds stays below a fixed bound (what the stalled reader can reach plus one
// poll's worth), instead of growing by every publication's retired nodes; all of it is
// freed once the vCPU returns.
TEST(StalledReaderTest, RetainedMemoryDoesNotGrowWithPublications) {
  RcuDomain domain;
  uint64_t retired_bytes = 0;
  size_t most_pending = 0, pending_at_start = 0, pending_at_end = 0;
  {
    IoManager io(domain);
    {
      IoManager::Transaction tx = io.Begin();
      for (uint64_t i = 0; i < 4096; ++i) {
        ASSERT_OK(
            tx.Register(std::make_shared<Device>(), {MmioRange{0x100000 + i * 0x1000, 0x100}}));
      }
      ASSERT_OK(tx.Commit());
    }
    auto blocking = std::make_shared<BlockingDevice>();
    ASSERT_OK(io.RegisterDeviceIo(blocking, {PioRange{0x80, 1}}));
    uint8_t answer = 0;
    std::thread vcpu([&] { ASSERT_OK(io.PioRead(0x80, absl::MakeSpan(&answer, 1))); });
    blocking->WaitUntilInside();

    constexpr int kChanges = 20000;
    const uint64_t bytes_before = domain.stats().retired_bytes;
    pending_at_start = domain.pending_bytes();
    for (int i = 0; i < kChanges; ++i) {
      // A BAR moving back and forth: one published change each.
      const uint64_t from = 0x100000 + uint64_t(i % 4096) * 0x1000;
      ASSERT_OK(io.MoveDeviceIo(MmioRange{from, 0x100}, from + 0x800));
      ASSERT_OK(io.MoveDeviceIo(MmioRange{from + 0x800, 0x100}, from));
      if (i % 64 == 0) most_pending = std::max(most_pending, domain.pending_bytes());
    }
    domain.Poll();
    pending_at_end = domain.pending_bytes();
    retired_bytes = domain.stats().retired_bytes - bytes_before;
    // Still stalled: nothing it could reach was freed, so it still answers.
    EXPECT_EQ(answer, 0);
    blocking->Release();
    vcpu.join();
    EXPECT_EQ(answer, 0x42);
  }
  // What 40,000 publications retired in all, against what was ever held at once.
  EXPECT_GT(retired_bytes, uint64_t{40000} * 1024);
  EXPECT_LT(most_pending, size_t{2} << 20)
      << "retained memory grew with the publications behind the stalled reader";
  EXPECT_LT(pending_at_end - std::min(pending_at_end, pending_at_start), size_t{2} << 20);
  ASSERT_OK(domain.Synchronize());
  EXPECT_EQ(domain.pending(), 0u);
  EXPECT_EQ(domain.stats().retired, domain.stats().reclaimed);
  std::printf(
      "stalled reader: %llu bytes retired by 40000 publications, at most %zu held at once\n",
      static_cast<unsigned long long>(retired_bytes), most_pending);
}

}  // namespace
}  // namespace dbs
