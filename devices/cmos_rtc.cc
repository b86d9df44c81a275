#include "dbs_device/devices/cmos_rtc.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

#include <cmath>
#include <utility>

#include "absl/time/civil_time.h"

namespace dbs {

using namespace cmos_rtc;  // NOLINT: the register names read best unqualified here

namespace {

// The last 244 µs of every second are the datasheet's update cycle.
constexpr absl::Duration kUpdateCycle = absl::Microseconds(244);

bool IsTimeRegister(uint8_t index) {
  return index == kSeconds || index == kMinutes || index == kHours || index == kDayOfWeek ||
         index == kDayOfMonth || index == kMonth || index == kYear || index == kCentury;
}

// The periodic interrupt's period for register A's rate (0: off).
absl::Duration PeriodOf(uint8_t rate) {
  if (rate == 0) return absl::ZeroDuration();
  if (rate <= 2) rate += 7;  // rates 1 and 2 repeat 8 and 9 with a 32.768 kHz base
  return absl::Seconds(1) * (1 << (rate - 1)) / 32768;
}

int64_t Ticks(absl::Time t, absl::Duration period) {
  absl::Duration remainder;  // absl writes it unconditionally
  return absl::IDivDuration(t - absl::UnixEpoch(), period, &remainder);
}

}  // namespace

CmosRtc::CmosRtc(std::function<absl::Time()> clock) : clock_(std::move(clock)) {
  state_.last_seen = GuestTime();
}

CmosRtc::CmosRtc(const CmosRtcState& state, std::function<absl::Time()> clock)
    : clock_(std::move(clock)), state_(state) {}

std::vector<ResourceConstraint> CmosRtc::Constraints() {
  return {PioConstraint{2, 1, AddressWindow<PioAddress>{kIndexPort, kDataPort}}};
}

void CmosRtc::SetCmosByte(uint8_t index, uint8_t value) {
  if (index > kRegD && index < kCmosSize) state_.cmos[index] = value;
}

absl::Time CmosRtc::GuestTime() const { return clock_() + state_.offset; }

uint8_t CmosRtc::Encode(int value) const {
  if (state_.reg_b & kRegBBinary) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

int CmosRtc::Decode(uint8_t value) const {
  if (state_.reg_b & kRegBBinary) return value;
  return (value >> 4) * 10 + (value & 0x0f);
}

uint8_t CmosRtc::EncodeHours(int hour) const {
  if (state_.reg_b & kRegB24Hour) return Encode(hour);
  const int hour12 = hour % 12 == 0 ? 12 : hour % 12;
  return static_cast<uint8_t>(Encode(hour12) | (hour >= 12 ? 0x80 : 0));
}

int CmosRtc::DecodeHours(uint8_t value) const {
  if (state_.reg_b & kRegB24Hour) return Decode(value);
  const int hour12 = Decode(value & 0x7f);
  return hour12 % 12 + ((value & 0x80) ? 12 : 0);
}

void CmosRtc::SetGuestTime(const absl::CivilSecond& time) {
  state_.offset = absl::FromCivil(time, absl::UTCTimeZone()) - clock_();
  state_.last_seen = GuestTime();
}

void CmosRtc::CatchUp() {
  const absl::Time now = GuestTime();
  const absl::Time before = state_.last_seen;
  state_.last_seen = now;
  if (now <= before || (state_.reg_b & kRegBSet)) return;
  if (Ticks(now, absl::Seconds(1)) > Ticks(before, absl::Seconds(1))) {
    state_.reg_c |= kRegCUf;
    const absl::CivilSecond cs = absl::ToCivilSecond(now, absl::UTCTimeZone());
    auto matches = [&](uint8_t alarm, int value, bool hours) {
      if ((alarm & kAlarmDontCare) == kAlarmDontCare) return true;
      return (hours ? DecodeHours(alarm) : Decode(alarm)) == value;
    };
    if (matches(state_.cmos[kSecondsAlarm], cs.second(), false) &&
        matches(state_.cmos[kMinutesAlarm], cs.minute(), false) &&
        matches(state_.cmos[kHoursAlarm], cs.hour(), true)) {
      state_.reg_c |= kRegCAf;
    }
  }
  // The datasheet raises PF whatever PIE says; QEMU (the oracle a Linux boot was recorded
  // against) only while PIE is set, and so do we.
  const absl::Duration period = PeriodOf(state_.reg_a & kRegARateMask);
  if ((state_.reg_b & kRegBPie) && period > absl::ZeroDuration() &&
      Ticks(now, period) > Ticks(before, period)) {
    state_.reg_c |= kRegCPf;
  }
  if ((state_.reg_c & kRegCPf && state_.reg_b & kRegBPie) ||
      (state_.reg_c & kRegCAf && state_.reg_b & kRegBAie) ||
      (state_.reg_c & kRegCUf && state_.reg_b & kRegBUie)) {
    state_.reg_c |= kRegCIrqf;
  }
}

uint8_t CmosRtc::ReadRegister(uint8_t index) {
  CatchUp();
  const absl::Time now = GuestTime();
  const absl::CivilSecond cs =
      (state_.reg_b & kRegBSet) ? state_.held : absl::ToCivilSecond(now, absl::UTCTimeZone());
  switch (index) {
    case kSeconds:
      return Encode(cs.second());
    case kMinutes:
      return Encode(cs.minute());
    case kHours:
      return EncodeHours(cs.hour());
    case kDayOfWeek: {
      // absl counts from Monday; the RTC from Sunday = 1.
      const int monday_based = static_cast<int>(absl::GetWeekday(absl::CivilDay(cs)));
      return Encode((monday_based + 1) % 7 + 1);
    }
    case kDayOfMonth:
      return Encode(cs.day());
    case kMonth:
      return Encode(cs.month());
    case kYear:
      return Encode(static_cast<int>(cs.year() % 100));
    case kCentury:
      return Encode(static_cast<int>(cs.year() / 100 % 100));
    case kRegA: {
      const absl::Duration into_second =
          (now - absl::UnixEpoch()) - absl::Floor(now - absl::UnixEpoch(), absl::Seconds(1));
      const bool updating = !(state_.reg_b & kRegBSet) &&
                            (state_.reg_a & kRegADividerMask) == kRegADividerNormal &&
                            into_second >= absl::Seconds(1) - kUpdateCycle;
      return static_cast<uint8_t>(state_.reg_a | (updating ? kRegAUip : 0));
    }
    case kRegB:
      return state_.reg_b;
    case kRegC: {
      const uint8_t c = state_.reg_c;
      state_.reg_c = 0;
      return c;
    }
    case kRegD:
      return kRegDVrt;
    default:
      return state_.cmos[index];  // the alarms and CMOS memory
  }
}

void CmosRtc::WriteRegister(uint8_t index, uint8_t value) {
  CatchUp();
  if (IsTimeRegister(index)) {
    absl::CivilSecond t = (state_.reg_b & kRegBSet)
                              ? state_.held
                              : absl::ToCivilSecond(GuestTime(), absl::UTCTimeZone());
    int64_t year = t.year();
    int month = t.month(), day = t.day(), hour = t.hour(), minute = t.minute(), second = t.second();
    switch (index) {
      case kSeconds:
        second = Decode(value);
        break;
      case kMinutes:
        minute = Decode(value);
        break;
      case kHours:
        hour = DecodeHours(value);
        break;
      case kDayOfWeek:
        return;  // derived from the date
      case kDayOfMonth:
        day = Decode(value);
        break;
      case kMonth:
        month = Decode(value);
        break;
      case kYear:
        year = (year / 100) * 100 + Decode(value);
        break;
      case kCentury:
        year = Decode(value) * 100 + year % 100;
        break;
    }
    // CivilSecond normalises out-of-range fields (a guest writing garbage gets some valid
    // time, never a crash); the year is then kept within what the registers can show
    // (0000-9999: two BCD digits of year and two of century).
    absl::CivilSecond updated(year, month, day, hour, minute, second);
    if (updated.year() < 0) updated = absl::CivilSecond(0, 1, 1, 0, 0, 0);
    if (updated.year() > 9999) updated = absl::CivilSecond(9999, 12, 31, 23, 59, 59);
    if (state_.reg_b & kRegBSet) {
      state_.held = updated;
    } else {
      SetGuestTime(updated);
    }
    return;
  }
  switch (index) {
    case kRegA:
      state_.reg_a = value & ~kRegAUip;
      return;
    case kRegB: {
      const bool was_set = state_.reg_b & kRegBSet;
      const bool now_set = value & kRegBSet;
      if (!was_set && now_set) {
        state_.held = absl::ToCivilSecond(GuestTime(), absl::UTCTimeZone());
      }
      state_.reg_b = value;
      if (was_set && !now_set) SetGuestTime(state_.held);
      return;
    }
    case kRegC:
    case kRegD:
      return;  // read-only
    default:
      state_.cmos[index] = value;  // the alarms and CMOS memory
  }
}

uint8_t CmosRtc::ReadPort(uint64_t offset) {
  if (offset == 1) return ReadRegister(state_.index);
  return 0xff;  // the index register is write-only; nothing else is decoded
}

void CmosRtc::WritePort(uint64_t offset, uint8_t value) {
  if (offset == 0) {
    state_.index = value & kIndexMask;
    state_.nmi_masked = value & kNmiDisable;
  } else if (offset == 1) {
    WriteRegister(state_.index, value);
  }
}

void CmosRtc::PioRead(PioAddress, PioAddress offset, absl::Span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) data[i] = ReadPort(offset.raw_value() + i);
}

void CmosRtc::PioWrite(PioAddress, PioAddress offset, absl::Span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) WritePort(offset.raw_value() + i, data[i]);
}

}  // namespace dbs
