#include "dbs_device/devices/cmos_rtc.h"

#include <memory>
#include <vector>

#include "absl/time/civil_time.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

using namespace cmos_rtc;  // NOLINT

absl::Time At(int64_t y, int m, int d, int hh, int mm, int ss) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

class CmosRtcTest : public ::testing::Test {
 protected:
  uint8_t Get(uint8_t index) {
    rtc_.WritePort(0, index);
    return rtc_.ReadPort(1);
  }
  void Set(uint8_t index, uint8_t value) {
    rtc_.WritePort(0, index);
    rtc_.WritePort(1, value);
  }

  absl::Time now_ = At(2026, 11, 24, 23, 23, 49);  // a Tuesday
  CmosRtc rtc_{[this] { return now_; }};
};

TEST_F(CmosRtcTest, BcdAnd24HourByDefault) {
  EXPECT_EQ(Get(kRegB), kRegB24Hour);
  EXPECT_EQ(Get(kSeconds), 0x49);
  EXPECT_EQ(Get(kMinutes), 0x23);
  EXPECT_EQ(Get(kHours), 0x23);
  EXPECT_EQ(Get(kDayOfWeek), 3);  // Sunday = 1
  EXPECT_EQ(Get(kDayOfMonth), 0x24);
  EXPECT_EQ(Get(kMonth), 0x11);
  EXPECT_EQ(Get(kYear), 0x26);
  EXPECT_EQ(Get(kCentury), 0x20);
  EXPECT_EQ(Get(kRegA), 0x26);
  EXPECT_EQ(Get(kRegD), kRegDVrt);
}

TEST_F(CmosRtcTest, BinaryMode) {
  Set(kRegB, kRegB24Hour | kRegBBinary);
  EXPECT_EQ(Get(kSeconds), 49);
  EXPECT_EQ(Get(kHours), 23);
  EXPECT_EQ(Get(kYear), 26);
}

TEST_F(CmosRtcTest, TwelveHourModeSetsThePmBit) {
  Set(kRegB, 0);  // BCD, 12-hour
  EXPECT_EQ(Get(kHours), 0x80 | 0x11);
  now_ = At(2026, 11, 24, 0, 5, 0);
  EXPECT_EQ(Get(kHours), 0x12) << "midnight is 12 AM";
  now_ = At(2026, 11, 24, 12, 5, 0);
  EXPECT_EQ(Get(kHours), 0x80 | 0x12) << "noon is 12 PM";
}

TEST_F(CmosRtcTest, UpdateInProgressDuringTheLast244Microseconds) {
  now_ = At(2026, 1, 1, 0, 0, 0) + absl::Milliseconds(500);
  EXPECT_FALSE(Get(kRegA) & kRegAUip);
  now_ = At(2026, 1, 1, 0, 0, 0) + absl::Seconds(1) - absl::Microseconds(100);
  EXPECT_TRUE(Get(kRegA) & kRegAUip);
  Set(kRegB, kRegB24Hour | kRegBSet);
  EXPECT_FALSE(Get(kRegA) & kRegAUip) << "no updates while SET is held";
}

TEST_F(CmosRtcTest, UpdateEndedFlagIsStickyUntilRegisterCIsRead) {
  EXPECT_EQ(Get(kRegC), 0);
  now_ += absl::Seconds(1);
  Get(kSeconds);
  now_ += absl::Milliseconds(10);
  EXPECT_EQ(Get(kRegC), kRegCUf);
  EXPECT_EQ(Get(kRegC), 0);
  Set(kRegB, kRegB24Hour | kRegBUie);
  now_ += absl::Seconds(1);
  EXPECT_EQ(Get(kRegC), kRegCIrqf | kRegCUf);
}

TEST_F(CmosRtcTest, AlarmFlag) {
  Set(kSecondsAlarm, 0x50);
  Set(kMinutesAlarm, kAlarmDontCare);
  Set(kHoursAlarm, kAlarmDontCare);
  Get(kRegC);
  now_ += absl::Seconds(1);  // :50
  EXPECT_EQ(Get(kRegC) & kRegCAf, kRegCAf);
}

TEST_F(CmosRtcTest, GuestSetsTheTimeAndItKeepsRunning) {
  Set(kRegB, kRegB24Hour | kRegBSet);
  Set(kHours, 0x08);
  Set(kMinutes, 0x30);
  Set(kSeconds, 0x00);
  EXPECT_EQ(Get(kHours), 0x08) << "held while SET";
  Set(kRegB, kRegB24Hour);
  now_ += absl::Seconds(5);
  EXPECT_EQ(Get(kHours), 0x08);
  EXPECT_EQ(Get(kMinutes), 0x30);
  EXPECT_EQ(Get(kSeconds), 0x05);
  EXPECT_EQ(Get(kDayOfMonth), 0x24) << "the date is unchanged";
}

TEST_F(CmosRtcTest, CmosMemoryAndNmiMask) {
  Set(0x40, 0xab);
  EXPECT_EQ(Get(0x40), 0xab);
  rtc_.SetCmosByte(0x34, 0x12);
  EXPECT_EQ(Get(0x34), 0x12);
  rtc_.WritePort(0, kNmiDisable | 0x40);
  EXPECT_TRUE(rtc_.nmi_masked());
  EXPECT_EQ(rtc_.ReadPort(1), 0xab) << "bit 7 of the index is the NMI mask, not the index";
  EXPECT_EQ(rtc_.ReadPort(0), 0xff);
  Set(kRegC, 0xff);
  Set(kRegD, 0x00);
  EXPECT_EQ(Get(kRegD), kRegDVrt) << "read-only";
}

// After any access: the index selects a register that exists, register C's low bits read
// zero, and the state survives its own encoding (Decode refuses what the device cannot
// hold), so a snapshot taken then restores.
void ExpectAStateTheDeviceCanHold(const CmosRtc& rtc) {
  const CmosRtcState state = rtc.state();
  ASSERT_LT(state.index, cmos_rtc::kCmosSize);
  ASSERT_EQ(state.reg_c & 0x0f, 0);
  absl::StatusOr<CmosRtcState> back = CmosRtcState::Decode(state.Encode());
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(*back == state);
}

TEST_F(CmosRtcTest, EveryOffsetAndWidthLeavesTheDeviceWorking) {
  for (uint16_t offset = 0; offset < 4; ++offset) {
    for (size_t len : {1, 2, 4, 8}) {
      for (uint8_t index = 0; index < 0x80; index += 7) {
        std::vector<uint8_t> data(len, index);
        rtc_.PioWrite(PioAddress{0x70}, PioAddress{offset}, data);
        ASSERT_NO_FATAL_FAILURE(ExpectAStateTheDeviceCanHold(rtc_)) << offset << "/" << len;
        rtc_.PioRead(PioAddress{0x70}, PioAddress{offset}, absl::MakeSpan(data));
        ASSERT_NO_FATAL_FAILURE(ExpectAStateTheDeviceCanHold(rtc_)) << offset << "/" << len;
      }
    }
  }
  Set(kRegB, kRegB24Hour);
  Set(kRegA, 0x26);
  const uint8_t s = Get(kSeconds);
  EXPECT_LE(s & 0x0f, 9);
  EXPECT_LE(s >> 4, 5);
}

TEST(CmosRtcDeviceManagerTest, PlacedAtPorts70And71) {
  ResourceManager resources = ResourceManager::X86Defaults();
  IoManager io;
  DeviceManager devices(resources, io);
  auto rtc = std::make_shared<ManagedDevice<CmosRtc>>("rtc", CmosRtc::Constraints(),
                                                      [] { return At(2026, 11, 24, 10, 0, 0); });
  ASSERT_OK(devices.AddDevice(rtc).status());
  uint8_t byte = kHours;
  ASSERT_OK(io.PioWrite(0x70, absl::MakeConstSpan(&byte, 1)));
  ASSERT_OK(io.PioRead(0x71, absl::MakeSpan(&byte, 1)));
  EXPECT_EQ(byte, 0x10);
}

}  // namespace
}  // namespace dbs
