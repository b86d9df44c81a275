// devices/internal/cmos_rtc_registers.h — the MC146818's ports, register indexes
// and register bits, named as in its datasheet.

#ifndef DBS_DEVICE_DEVICES_INTERNAL_CMOS_RTC_REGISTERS_H_
#define DBS_DEVICE_DEVICES_INTERNAL_CMOS_RTC_REGISTERS_H_

#include <cstddef>
#include <cstdint>

namespace dbs {

namespace cmos_rtc {

inline constexpr uint16_t kIndexPort = 0x70;
inline constexpr uint16_t kDataPort = 0x71;
inline constexpr uint32_t kIrq = 8;

// Register indexes.
inline constexpr uint8_t kSeconds = 0x00;
inline constexpr uint8_t kSecondsAlarm = 0x01;
inline constexpr uint8_t kMinutes = 0x02;
inline constexpr uint8_t kMinutesAlarm = 0x03;
inline constexpr uint8_t kHours = 0x04;
inline constexpr uint8_t kHoursAlarm = 0x05;
inline constexpr uint8_t kDayOfWeek = 0x06;
inline constexpr uint8_t kDayOfMonth = 0x07;
inline constexpr uint8_t kMonth = 0x08;
inline constexpr uint8_t kYear = 0x09;
inline constexpr uint8_t kRegA = 0x0a;
inline constexpr uint8_t kRegB = 0x0b;
inline constexpr uint8_t kRegC = 0x0c;
inline constexpr uint8_t kRegD = 0x0d;
inline constexpr uint8_t kCentury = 0x32;
inline constexpr uint8_t kCmosSize = 0x80;

// Index port.
inline constexpr uint8_t kIndexMask = 0x7f;
inline constexpr uint8_t kNmiDisable = 0x80;

// Register A.
inline constexpr uint8_t kRegAUip = 0x80;          // update in progress
inline constexpr uint8_t kRegADividerMask = 0x70;  // 010 = 32.768 kHz time base, running
inline constexpr uint8_t kRegARateMask = 0x0f;     // periodic rate
inline constexpr uint8_t kRegADividerNormal = 0x20;

// Register B.
inline constexpr uint8_t kRegBSet = 0x80;     // halt updates while the time is set
inline constexpr uint8_t kRegBPie = 0x40;     // periodic interrupt enable
inline constexpr uint8_t kRegBAie = 0x20;     // alarm interrupt enable
inline constexpr uint8_t kRegBUie = 0x10;     // update-ended interrupt enable
inline constexpr uint8_t kRegBSqwe = 0x08;    // square wave enable
inline constexpr uint8_t kRegBBinary = 0x04;  // DM: binary (else BCD)
inline constexpr uint8_t kRegB24Hour = 0x02;  // 24-hour (else 12-hour)
inline constexpr uint8_t kRegBDse = 0x01;     // daylight saving enable

// Register C.
inline constexpr uint8_t kRegCIrqf = 0x80;
inline constexpr uint8_t kRegCPf = 0x40;
inline constexpr uint8_t kRegCAf = 0x20;
inline constexpr uint8_t kRegCUf = 0x10;

// Register D.
inline constexpr uint8_t kRegDVrt = 0x80;

// An alarm register value that matches any time.
inline constexpr uint8_t kAlarmDontCare = 0xc0;

}  // namespace cmos_rtc

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICES_INTERNAL_CMOS_RTC_REGISTERS_H_
