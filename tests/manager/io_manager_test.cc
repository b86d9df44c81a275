#include "dbs_device/manager/io_manager.h"

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "dbs_device/testing/status_matchers.h"
#include "dbs_device/tests/manager/recording_device.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

using ::dbs::testing::Access;
using ::dbs::testing::IsOkAndHolds;
using ::dbs::testing::RecordingDevice;
using ::dbs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// A manager with a UART-like PIO device at 0x3f8 and an MMIO device at 0x1000.
class IoManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(io_.RegisterDeviceIo(pio_dev_, {PioRange{0x3f8, 8}}));
    ASSERT_OK(io_.RegisterDeviceIo(mmio_dev_, {MmioRange{0x1000, 0x1000}}));
    generation_ = io_.generation();
  }

  // The state is as SetUp left it: both devices answer, nothing else was published.
  void ExpectUnchanged() {
    EXPECT_EQ(io_.generation(), generation_);
    EXPECT_EQ(io_.range_count(), 2u);
    uint8_t byte = 0;
    const uint64_t pio_calls = pio_dev_->calls();
    EXPECT_OK(io_.PioRead(0x3fd, absl::MakeSpan(&byte, 1)));
    EXPECT_EQ(byte, pio_dev_->Pattern(5));
    EXPECT_EQ(pio_dev_->calls(), pio_calls + 1);
    uint32_t word = 0;
    EXPECT_OK(io_.MmioRead(0x1ffc, absl::MakeSpan(reinterpret_cast<uint8_t*>(&word), 4)));
    EXPECT_EQ(word & 0xff, mmio_dev_->Pattern(0xffc));
  }

  IoManager io_{IoManager::Options{.statistics = true}};
  std::shared_ptr<RecordingDevice> pio_dev_ = std::make_shared<RecordingDevice>(1);
  std::shared_ptr<RecordingDevice> mmio_dev_ = std::make_shared<RecordingDevice>(2);
  std::shared_ptr<RecordingDevice> other_ = std::make_shared<RecordingDevice>(3);
  uint64_t generation_ = 0;
};

// --- The original crate's README flow ----------------------------------------------------

TEST_F(IoManagerTest, DispatchPassesBaseOffsetAndData) {
  const uint8_t out[2] = {0x12, 0x34};
  ASSERT_OK(io_.MmioWrite(0x1008, out));
  uint8_t in[4] = {};
  ASSERT_OK(io_.PioRead(0x3fa, in));
  ASSERT_OK(io_.PioWrite(0x3f8, absl::MakeConstSpan(out, 1)));
  EXPECT_THAT(mmio_dev_->accesses(), ElementsAre(Access{Access::kWrite, 0x1000, 8, {0x12, 0x34}}));
  EXPECT_THAT(pio_dev_->accesses(),
              ElementsAre(Access{Access::kPioRead,
                                 0x3f8,
                                 2,
                                 {pio_dev_->Pattern(2), pio_dev_->Pattern(3), pio_dev_->Pattern(4),
                                  pio_dev_->Pattern(5)}},
                          Access{Access::kPioWrite, 0x3f8, 0, {0x12}}));
  EXPECT_EQ(in[0], pio_dev_->Pattern(2));
}

TEST_F(IoManagerTest, NonIoResourcesAreIgnored) {
  ASSERT_OK(io_.RegisterDeviceIo(other_, {LegacyIrq{4}, PioRange{0x60, 1}, KvmMemSlot{1},
                                          MsiIrq{MsiIrqType::kPciMsix, 32, 2}}));
  EXPECT_EQ(io_.range_count(), 3u);
  ASSERT_OK(io_.UnregisterDeviceIo({LegacyIrq{4}, PioRange{0x60, 1}}));
  EXPECT_EQ(io_.range_count(), 2u);
}

// --- Error contract rows, each with the state unchanged ---------------------------------

TEST_F(IoManagerTest, PartialOverlapIsAlreadyExists) {
  EXPECT_THAT(io_.RegisterDeviceIo(other_, {PioRange{0x3f0, 0x10}}),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0x3f8")));
  EXPECT_THAT(io_.RegisterDeviceIo(other_, {MmioRange{0x1fff, 2}}),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0x1fff")));
  ExpectUnchanged();
}

TEST_F(IoManagerTest, ContainingAndContainedRangesAreAlreadyExists) {
  EXPECT_THAT(io_.RegisterDeviceIo(other_, {MmioRange{0, 0x10000}}),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0x1000")));
  EXPECT_THAT(io_.RegisterDeviceIo(other_, {PioRange{0x3fb, 1}}),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0x3fb")));
  ExpectUnchanged();
}

TEST_F(IoManagerTest, ZeroSizeAndPastTheEndAreInvalidArgument) {
  EXPECT_THAT(io_.RegisterDeviceIo(other_, {PioRange{0x100, 0}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0x100")));
  EXPECT_THAT(io_.RegisterDeviceIo(other_, {MmioRange{0x5000, 0}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0x5000")));
  EXPECT_THAT(io_.RegisterDeviceIo(other_, {PioRange{0xfff0, 0x20}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0xfff0")));
  EXPECT_THAT(io_.RegisterDeviceIo(other_, {MmioRange{kMax - 0xf, 0x20}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0xfffffffffffffff0")));
  ExpectUnchanged();
}

TEST_F(IoManagerTest, DispatchWithNoDeviceIsNotFound) {
  uint8_t byte = 0;
  EXPECT_THAT(io_.PioRead(0x3f7, absl::MakeSpan(&byte, 1)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("0x3f7")));
  EXPECT_THAT(io_.MmioWrite(0x2000, absl::MakeConstSpan(&byte, 1)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("0x2000")));
  EXPECT_EQ(io_.UnclaimedStats().errors.at(absl::StatusCode::kNotFound), 2u);
  ExpectUnchanged();
}

TEST_F(IoManagerTest, AccessRunningPastTheRangeEndIsOutOfRangeAndNotPassedOn) {
  uint8_t bytes[4] = {};
  const uint64_t calls = pio_dev_->calls();
  EXPECT_THAT(io_.PioRead(0x3fe, bytes),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("0x3fe")));
  EXPECT_THAT(io_.MmioWrite(0x1ffe, absl::MakeConstSpan(bytes, 4)),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("0x1ffe")));
  EXPECT_EQ(pio_dev_->calls(), calls);
  ASSERT_OK_AND_ASSIGN(DeviceStats stats, io_.GetDeviceStats(pio_dev_.get()));
  EXPECT_EQ(stats.errors.at(absl::StatusCode::kOutOfRange), 1u);
  ExpectUnchanged();
}

TEST_F(IoManagerTest, ZeroLengthAccessIsInvalidArgument) {
  EXPECT_THAT(io_.PioRead(0x3f8, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0x3f8")));
  EXPECT_THAT(io_.MmioWrite(0x1000, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(pio_dev_->calls(), 0u);
  ExpectUnchanged();
}

TEST_F(IoManagerTest, UnregisteringRangesNotRegisteredExactlyIsNotFound) {
  EXPECT_THAT(io_.UnregisterDeviceIo({PioRange{0x3f8, 4}}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("0x3f8")));
  EXPECT_THAT(io_.UnregisterDeviceIo({MmioRange{0x1000, 0x1000}, PioRange{0x2f8, 8}}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("0x2f8")));
  ExpectUnchanged();
}

TEST_F(IoManagerTest, SynchronizeInsideADispatchIsFailedPrecondition) {
  absl::Status inside;
  other_->on_access = [&] { inside = io_.Synchronize(); };
  ASSERT_OK(io_.RegisterDeviceIo(other_, {PioRange{0x80, 1}}));
  uint8_t byte = 1;
  ASSERT_OK(io_.PioWrite(0x80, absl::MakeConstSpan(&byte, 1)));
  EXPECT_THAT(inside, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_OK(io_.Synchronize());
}

TEST_F(IoManagerTest, MultiRangeRegistrationIsAllOrNothing) {
  EXPECT_THAT(io_.RegisterDeviceIo(
                  other_, {PioRange{0x60, 1}, MmioRange{0x8000, 0x100}, PioRange{0x3ff, 1}}),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0x3ff")));
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0x60), nullptr);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kMmio, 0x8000), nullptr);
  EXPECT_EQ(io_.device_count(), 2u);
  ExpectUnchanged();
}

// --- The original crate's defects, as tests that pass here ------------------------------

TEST_F(IoManagerTest, OriginalDefectPartlyOverlappingRangeIsRejected) {
  EXPECT_THAT(io_.RegisterDeviceIo(other_, {PioRange{0x3fc, 8}}),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0x400), nullptr);
}

TEST_F(IoManagerTest, OriginalDefectRegisteringAtAnExistingBaseDoesNotReplace) {
  EXPECT_THAT(io_.RegisterDeviceIo(other_, {PioRange{0x3f8, 8}}),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(io_.RegisterDeviceIo(other_, {PioRange{0x3f8, 1}}),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0x3f8), pio_dev_);
}

TEST_F(IoManagerTest, OriginalDefectAccessPastTheEndIsNotPassedToTheDevice) {
  uint8_t bytes[2] = {};
  EXPECT_THAT(io_.PioRead(0x3ff, bytes), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_TRUE(pio_dev_->accesses().empty());
}

TEST_F(IoManagerTest, OriginalDefectZeroSizeRangeIsRejected) {
  EXPECT_THAT(io_.RegisterDeviceIo(other_, {MmioRange{0x9000, 0}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(io_.device_count(), 2u);
}

TEST_F(IoManagerTest, OriginalDefectUnregisteringInexactRangesRemovesNothing) {
  EXPECT_THAT(io_.UnregisterDeviceIo({PioRange{0x3f8, 8}, MmioRange{0x1000, 0x800}}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0x3f8), pio_dev_);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kMmio, 0x1000), mmio_dev_);
}

// --- Transactions and moves ------------------------------------------------------------

TEST_F(IoManagerTest, TransactionPublishesPioAndMmioAsOneGeneration) {
  IoManager::Transaction tx = io_.Begin();
  ASSERT_OK(tx.Register(other_, {PioRange{0x60, 1}, MmioRange{0x5000, 0x1000}}));
  ASSERT_OK(tx.Unregister({PioRange{0x3f8, 8}}));
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0x60), nullptr);  // not yet visible
  ASSERT_OK(tx.Commit());
  EXPECT_EQ(io_.generation(), generation_ + 1);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0x60), other_);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kMmio, 0x5fff), other_);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0x3f8), nullptr);
  EXPECT_THAT(tx.Commit(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(IoManagerTest, TransactionFailingOnItsLastChangeChangesNothing) {
  IoManager::Transaction tx = io_.Begin();
  ASSERT_OK(tx.Register(other_, {PioRange{0x60, 1}}));
  ASSERT_OK(tx.Unregister({MmioRange{0x1000, 0x1000}}));
  ASSERT_OK(tx.Register(other_, {PioRange{0x3f9, 1}}));
  EXPECT_THAT(tx.Commit(), StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0x3f9")));
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0x60), nullptr);
  ExpectUnchanged();
}

TEST_F(IoManagerTest, DestroyingAnUncommittedTransactionCancelsIt) {
  {
    IoManager::Transaction tx = io_.Begin();
    ASSERT_OK(tx.Register(other_, {PioRange{0x60, 1}}));
  }
  IoManager::Transaction cancelled = io_.Begin();
  ASSERT_OK(cancelled.Register(other_, {PioRange{0x61, 1}}));
  cancelled.Cancel();
  EXPECT_THAT(cancelled.Commit(), StatusIs(absl::StatusCode::kFailedPrecondition));
  ExpectUnchanged();
}

TEST_F(IoManagerTest, AMovedFromTransactionIsEmptyAndClosed) {
  IoManager::Transaction tx = io_.Begin();
  ASSERT_OK(tx.Register(other_, {PioRange{0x60, 1}, PioRange{0x64, 1}}));
  ASSERT_OK(tx.Unregister({LegacyIrq{4}}));  // nothing the bus holds: not a change
  EXPECT_EQ(tx.size(), 1u);
  IoManager::Transaction moved = std::move(tx);
  EXPECT_EQ(tx.size(), 0u);  // NOLINT(bugprone-use-after-move): the state is specified
  EXPECT_EQ(moved.size(), 1u);
  EXPECT_THAT(tx.Commit(), StatusIs(absl::StatusCode::kFailedPrecondition));
  ExpectUnchanged();
  ASSERT_OK(moved.Commit());
  EXPECT_EQ(moved.size(), 0u);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0x64), other_);
}

TEST_F(IoManagerTest, ATransactionSwappingTwoRangesCommits) {
  ASSERT_OK(io_.RegisterDeviceIo(other_, {MmioRange{0x2000, 0x1000}}));
  IoManager::Transaction tx = io_.Begin();
  ASSERT_OK(tx.Move(MmioRange{0x1000, 0x1000}, 0x2000));
  ASSERT_OK(tx.Move(MmioRange{0x2000, 0x1000}, 0x1000));
  ASSERT_OK(tx.Commit());
  EXPECT_EQ(io_.FindDevice(AddressSpace::kMmio, 0x1000), other_);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kMmio, 0x2000), mmio_dev_);
  EXPECT_EQ(io_.device_count(), 3u);
  EXPECT_EQ(io_.range_count(), 3u);
}

TEST_F(IoManagerTest, MoveChangesTheBaseTheDeviceSees) {
  ASSERT_OK(io_.MoveDeviceIo(MmioRange{0x1000, 0x1000}, 0x7000));
  uint8_t byte = 0;
  EXPECT_THAT(io_.MmioRead(0x1000, absl::MakeSpan(&byte, 1)),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(io_.MmioRead(0x7004, absl::MakeSpan(&byte, 1)));
  EXPECT_EQ(mmio_dev_->accesses().back().base, 0x7000u);
  EXPECT_EQ(mmio_dev_->accesses().back().offset, 4u);
  EXPECT_THAT(io_.MoveDeviceIo(MmioRange{0x1000, 0x1000}, 0x9000),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("0x1000")));
  EXPECT_THAT(io_.MoveDeviceIo(PioRange{0x3f8, 8}, 0xfffc),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(io_.MoveDeviceIo(LegacyIrq{4}, 5), StatusIs(absl::StatusCode::kInvalidArgument));
  // Onto another device's range: refused, and both stay where they were.
  ASSERT_OK(io_.RegisterDeviceIo(other_, {MmioRange{0x9000, 0x1000}}));
  EXPECT_THAT(io_.MoveDeviceIo(MmioRange{0x7000, 0x1000}, 0x9800),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0x9800")));
  EXPECT_EQ(io_.FindDevice(AddressSpace::kMmio, 0x7000), mmio_dev_);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kMmio, 0x9800), other_);
}

TEST(IoManagerTransactionTest, UnregisteringARangeMovedInTheSameTransactionRemovesTheDevice) {
  // Found by the io_manager fuzzer: the bookkeeping looked the unregistered range up in the
  // published snapshot, where its new base was not yet, and kept the device as registered.
  IoManager io;
  auto moved = std::make_shared<RecordingDevice>(1);
  auto added = std::make_shared<RecordingDevice>(2);
  ASSERT_OK(io.RegisterDeviceIo(moved, {PioRange{0x60, 1}}));
  IoManager::Transaction tx = io.Begin();
  ASSERT_OK(tx.Move(PioRange{0x60, 1}, 0x70));
  ASSERT_OK(tx.Unregister({PioRange{0x70, 1}}));
  ASSERT_OK(tx.Register(added, {PioRange{0x80, 1}}));
  ASSERT_OK(tx.Move(PioRange{0x80, 1}, 0x90));
  ASSERT_OK(tx.Unregister({PioRange{0x90, 1}}));
  ASSERT_OK(tx.Commit());
  EXPECT_EQ(io.range_count(), 0u);
  EXPECT_EQ(io.device_count(), 0u);
  EXPECT_THAT(io.GetDeviceStats(moved.get()), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(io.GetDeviceStats(added.get()), StatusIs(absl::StatusCode::kNotFound));
}

TEST(IoManagerMoveTest, DispatchDuringMovesAlwaysSeesTheBaseItWasSentTo) {
  IoManager io;
  auto dev = std::make_shared<RecordingDevice>(1);
  ASSERT_OK(io.RegisterDeviceIo(dev, {MmioRange{0x10000, 0x1000}}));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> delivered{0};
  std::thread vcpu([&] {
    uint8_t byte = 0;
    for (int i = 0; i < 20000 && !stop; ++i) {
      const uint64_t at = i % 2 ? 0x10004 : 0x20004;
      if (io.MmioRead(at, absl::MakeSpan(&byte, 1)).ok()) delivered.fetch_add(1);
    }
  });
  uint64_t base = 0x10000;
  for (int i = 0; i < 2000; ++i) {
    const uint64_t to = base == 0x10000 ? 0x20000 : 0x10000;
    ASSERT_OK(io.MoveDeviceIo(MmioRange{base, 0x1000}, to));
    base = to;
  }
  stop = true;
  vcpu.join();
  const std::vector<Access> seen = dev->accesses();
  EXPECT_EQ(seen.size(), delivered.load());
  for (const Access& a : seen) {
    EXPECT_TRUE(a.base == 0x10000 || a.base == 0x20000) << a.base;
    EXPECT_EQ(a.offset, 4u);
  }
}

// --- Hotplug from inside a dispatch ------------------------------------------------------

TEST_F(IoManagerTest, HandlerRegistersAndUnregistersDevicesIncludingItself) {
  auto added = std::make_shared<RecordingDevice>(4);
  absl::Status add_status, remove_self_status;
  other_->on_access = [&] {
    add_status = io_.RegisterDeviceIo(added, {PioRange{0x70, 2}});
    remove_self_status = io_.UnregisterDeviceIo({PioRange{0x80, 1}});
  };
  ASSERT_OK(io_.RegisterDeviceIo(other_, {PioRange{0x80, 1}}));
  uint8_t byte = 0;
  ASSERT_OK(io_.PioRead(0x80, absl::MakeSpan(&byte, 1)));
  EXPECT_OK(add_status);
  EXPECT_OK(remove_self_status);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0x80), nullptr);
  EXPECT_EQ(io_.FindDevice(AddressSpace::kPio, 0x71), added);
  EXPECT_THAT(io_.PioRead(0x80, absl::MakeSpan(&byte, 1)), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(IoManagerTest, HandlerDispatchesToAnotherDeviceAndToItself) {
  int depth = 0;
  other_->on_access = [&] {
    if (++depth > 2) return;
    uint8_t b = 0;
    EXPECT_OK(io_.PioRead(0x3f8, absl::MakeSpan(&b, 1)));  // another device
    EXPECT_OK(io_.PioRead(0x80, absl::MakeSpan(&b, 1)));   // itself, nested
  };
  ASSERT_OK(io_.RegisterDeviceIo(other_, {PioRange{0x80, 1}}));
  uint8_t byte = 0;
  ASSERT_OK(io_.PioRead(0x80, absl::MakeSpan(&byte, 1)));
  EXPECT_EQ(other_->calls(), 3u);
  EXPECT_EQ(pio_dev_->calls(), 2u);
}

TEST(IoManagerLifetimeTest, SynchronizeWaitsForADispatchThatBeganBefore) {
  IoManager io;
  auto slow = std::make_shared<RecordingDevice>(1);
  std::atomic<bool> entered{false}, release{false};
  slow->on_access = [&] {
    entered = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  ASSERT_OK(io.RegisterDeviceIo(slow, {PioRange{0x80, 1}}));
  std::thread vcpu([&] {
    uint8_t byte = 0;
    EXPECT_OK(io.PioRead(0x80, absl::MakeSpan(&byte, 1)));
  });
  while (!entered) std::this_thread::yield();
  ASSERT_OK(io.UnregisterDeviceIo({PioRange{0x80, 1}}));
  std::atomic<bool> synchronized{false};
  std::thread waiter([&] {
    EXPECT_OK(io.Synchronize());
    synchronized = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(synchronized.load()) << "Synchronize returned while a dispatch was running";
  release = true;
  vcpu.join();
  waiter.join();
  EXPECT_TRUE(synchronized.load());
}

TEST(IoManagerLifetimeTest, DeviceIsDestroyedOnlyAfterTheLastSnapshotNamingItIsReclaimed) {
  RcuDomain domain;
  std::atomic<int64_t> live{0};
  IoManager io(domain);
  auto device = std::make_shared<RecordingDevice>(1, &live);
  std::weak_ptr<RecordingDevice> weak = device;
  ASSERT_OK(io.RegisterDeviceIo(device, {PioRange{0x80, 1}}));
  device.reset();
  {
    ReadSection section;  // a vCPU in the middle of a dispatch
    ASSERT_OK(io.UnregisterDeviceIo({PioRange{0x80, 1}}));
    domain.Poll();
    EXPECT_EQ(live.load(), 1) << "destroyed while a reader could still call it";
  }
  ASSERT_OK(io.Synchronize());
  EXPECT_EQ(live.load(), 0);
  EXPECT_TRUE(weak.expired());
}

// --- Statistics ----------------------------------------------------------------------------

TEST_F(IoManagerTest, StatisticsCountPerDeviceAcrossThreads) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      uint8_t bytes[2] = {};
      for (int i = 0; i < 1000; ++i) {
        EXPECT_OK(io_.PioRead(0x3f8, bytes));
        EXPECT_OK(io_.MmioWrite(0x1000, absl::MakeConstSpan(bytes, 1)));
      }
    });
  }
  for (auto& t : threads) t.join();  // counts of exited threads are kept
  ASSERT_OK_AND_ASSIGN(DeviceStats pio, io_.GetDeviceStats(pio_dev_.get()));
  EXPECT_EQ(pio.reads, 4000u);
  EXPECT_EQ(pio.bytes_read, 8000u);
  EXPECT_EQ(pio.writes, 0u);
  ASSERT_OK_AND_ASSIGN(DeviceStats mmio, io_.GetDeviceStats(mmio_dev_.get()));
  EXPECT_EQ(mmio.writes, 4000u);
  EXPECT_EQ(mmio.bytes_written, 4000u);
  EXPECT_EQ(mmio.total_errors(), 0u);
  EXPECT_THAT(pio.ToString(), HasSubstr("reads=4000"));
  EXPECT_THAT(io_.GetDeviceStats(other_.get()), StatusIs(absl::StatusCode::kNotFound));
}

TEST(IoManagerStatsTest, ANewDeviceStartsFromZero) {
  IoManager io(IoManager::Options{.statistics = true});
  for (int round = 0; round < 3; ++round) {
    auto dev = std::make_shared<RecordingDevice>(1);
    ASSERT_OK(io.RegisterDeviceIo(dev, {PioRange{0x80, 1}}));
    uint8_t byte = 0;
    for (int i = 0; i <= round; ++i) ASSERT_OK(io.PioRead(0x80, absl::MakeSpan(&byte, 1)));
    EXPECT_THAT(io.GetDeviceStats(dev.get()),
                IsOkAndHolds(::testing::Field(&DeviceStats::reads, round + 1u)));
    ASSERT_OK(io.UnregisterDeviceIo({PioRange{0x80, 1}}));
    ASSERT_OK(io.Synchronize());  // the stats slot is released, then reused
  }
}

TEST_F(IoManagerTest, StatisticsCountEveryAccessLengthAndItsBytes) {
  // 1, 2, 4 and 8 bytes are counted on the fast path, other lengths on the slow one.
  uint8_t buffer[16] = {};
  uint64_t bytes = 0;
  for (size_t length = 1; length <= sizeof(buffer); ++length) {
    ASSERT_OK(io_.MmioRead(0x1000, absl::MakeSpan(buffer, length)));
    ASSERT_OK(io_.MmioWrite(0x1100, absl::MakeConstSpan(buffer, length)));
    bytes += length;
  }
  ASSERT_OK_AND_ASSIGN(DeviceStats stats, io_.GetDeviceStats(mmio_dev_.get()));
  EXPECT_EQ(stats.reads, 16u);
  EXPECT_EQ(stats.writes, 16u);
  EXPECT_EQ(stats.bytes_read, bytes);
  EXPECT_EQ(stats.bytes_written, bytes);
}

TEST(IoManagerStatsTest, CountsSurviveTheThreadTableGrowing) {
  // The first device is counted while the thread's table is small; registering hundreds
  // more makes the table grow on their first access, carrying the earlier counts along.
  IoManager io(IoManager::Options{.statistics = true});
  std::vector<std::shared_ptr<RecordingDevice>> devices;
  for (uint16_t i = 0; i < 300; ++i) {
    devices.push_back(std::make_shared<RecordingDevice>(static_cast<uint8_t>(i)));
    ASSERT_OK(
        io.RegisterDeviceIo(devices.back(), {PioRange{static_cast<uint16_t>(0x1000 + i), 1}}));
    uint8_t byte = 0;
    ASSERT_OK(io.PioRead(0x1000 + i, absl::MakeSpan(&byte, 1)));
    if (i > 0) ASSERT_OK(io.PioRead(0x1000, absl::MakeSpan(&byte, 1)));
  }
  EXPECT_THAT(io.GetDeviceStats(devices[0].get()),
              IsOkAndHolds(::testing::Field(&DeviceStats::reads, 300u)));
  for (size_t i = 1; i < devices.size(); ++i) {
    EXPECT_THAT(io.GetDeviceStats(devices[i].get()),
                IsOkAndHolds(::testing::Field(&DeviceStats::reads, 1u)));
  }
}

TEST(IoManagerStatsTest, ByDefaultOnlyErrorsAreCounted) {
  IoManager io;  // Options::statistics is off by default
  auto dev = std::make_shared<RecordingDevice>(1);
  ASSERT_OK(io.RegisterDeviceIo(dev, {PioRange{0x80, 2}}));
  uint8_t bytes[4] = {};
  ASSERT_OK(io.PioRead(0x80, absl::MakeSpan(bytes, 2)));
  ASSERT_OK(io.PioWrite(0x80, absl::MakeConstSpan(bytes, 1)));
  EXPECT_THAT(io.PioRead(0x81, absl::MakeSpan(bytes, 4)), StatusIs(absl::StatusCode::kOutOfRange));
  ASSERT_OK_AND_ASSIGN(DeviceStats stats, io.GetDeviceStats(dev.get()));
  EXPECT_EQ(stats.reads + stats.writes + stats.bytes_read + stats.bytes_written, 0u);
  EXPECT_EQ(stats.errors.at(absl::StatusCode::kOutOfRange), 1u);
  EXPECT_EQ(dev->calls(), 2u) << "the device is still called, only not counted";
}

// --- Concurrency: dispatch during hotplug ------------------------------------------------

// Four vCPU threads dispatch to a set of stable devices and to hot-plugged ones, while a
// writer adds and removes devices through transactions and moves ranges.
TEST(IoManagerStressTest, DispatchDuringHotplug) {
  RcuDomain domain;
  std::atomic<int64_t> live{0};
  {
    IoManager io(domain);
    constexpr int kStable = 8;
    std::vector<std::shared_ptr<RecordingDevice>> stable;
    for (int i = 0; i < kStable; ++i) {
      stable.push_back(std::make_shared<RecordingDevice>(i, &live));
      stable.back()->record = false;
      ASSERT_OK(io.RegisterDeviceIo(stable.back(), {PioRange{uint16_t(0x100 + i * 8), 8},
                                                    MmioRange{0x100000 + i * 0x1000u, 0x1000}}));
    }
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> dispatches{0}, stable_misses{0}, wrong_answers{0}, hot_hits{0};
    std::atomic<uint64_t> after_removal{0};
    std::vector<std::thread> vcpus;
    for (int t = 0; t < 4; ++t) {
      vcpus.emplace_back([&, t] {
        std::mt19937 rng(t);
        uint64_t n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          const int i = rng() % kStable;
          uint8_t byte = 0;
          // Stable devices must always answer, with their own pattern.
          if (!io.PioRead(uint16_t(0x100 + i * 8 + rng() % 8), absl::MakeSpan(&byte, 1)).ok()) {
            stable_misses.fetch_add(1);
          }
          const uint64_t off = rng() % 0x1000;
          if (!io.MmioRead(0x100000 + i * 0x1000u + off, absl::MakeSpan(&byte, 1)).ok()) {
            stable_misses.fetch_add(1);
          } else if (byte != stable[i]->Pattern(off)) {
            wrong_answers.fetch_add(1);
          }
          // Hot-plugged devices may or may not be there.
          if (io.MmioRead(0x800000 + (rng() % 16) * 0x1000u, absl::MakeSpan(&byte, 1)).ok()) {
            hot_hits.fetch_add(1);
          }
          n += 3;
        }
        dispatches.fetch_add(n);
      });
    }
    // The writer: add a device, move it, remove it; after each removal + Synchronize, the
    // removed device must never be called again.
    std::mt19937 rng(42);
    std::vector<std::pair<std::shared_ptr<RecordingDevice>, uint64_t>> removed;
    for (int round = 0; round < 300; ++round) {
      auto dev = std::make_shared<RecordingDevice>(100, &live);
      dev->record = false;
      const uint64_t a = 0x800000 + (rng() % 8) * 0x1000u;
      const uint64_t b = 0x808000 + (rng() % 8) * 0x1000u;
      IoManager::Transaction tx = io.Begin();
      ASSERT_OK(tx.Register(dev, {MmioRange{a, 0x1000}, PioRange{0x2000, 4}}));
      ASSERT_OK(tx.Commit());
      ASSERT_OK(io.MoveDeviceIo(MmioRange{a, 0x1000}, b));
      IoManager::Transaction rm = io.Begin();
      ASSERT_OK(rm.Unregister({MmioRange{b, 0x1000}, PioRange{0x2000, 4}}));
      ASSERT_OK(rm.Commit());
      ASSERT_OK(io.Synchronize());
      removed.emplace_back(dev, dev->calls());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stop = true;
    for (auto& t : vcpus) t.join();
    for (const auto& [dev, calls_at_removal] : removed) {
      if (dev->calls() != calls_at_removal) after_removal.fetch_add(1);
    }
    EXPECT_GT(dispatches.load(), 1000u);
    EXPECT_EQ(stable_misses.load(), 0u) << "a dispatch to a device registered throughout failed";
    EXPECT_EQ(wrong_answers.load(), 0u);
    EXPECT_EQ(after_removal.load(), 0u) << "a device was called after removal + Synchronize";
    uint64_t stable_calls = 0;
    for (const auto& dev : stable) stable_calls += dev->calls();
    EXPECT_EQ(stable_calls, dispatches.load() * 2 / 3)
        << "every stable dispatch reached its device";
    removed.clear();
    stable.clear();
  }
  ASSERT_OK(domain.Synchronize());
  EXPECT_EQ(live.load(), 0) << "a device outlived its manager";
  EXPECT_EQ(domain.stats().retired, domain.stats().reclaimed);
}

}  // namespace
}  // namespace dbs
