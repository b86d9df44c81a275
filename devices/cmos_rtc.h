// devices/cmos_rtc.h — the MC146818 real-time clock and CMOS memory of a PC.
//
// Two ports (0x70-0x71 on a PC): writing offset 0 selects a register (bits 0-6; bit 7 is
// the NMI mask, kept and reported by nmi_masked()); offset 1 reads or writes the selected
// register. Reading offset 0 returns 0xff (the index register is write-only).
//
//   0x00-0x09  seconds, seconds alarm, minutes, minutes alarm, hours, hours alarm,
//              day of week (1 = Sunday), day of month, month, year (two digits)
//   0x0a       register A: bit 7 update in progress, bits 4-6 divider, 0-3 periodic rate
//   0x0b       register B: SET, PIE, AIE, UIE, SQWE, DM (binary), 24/12, DSE
//   0x0c       register C: IRQF, PF, AF, UF; read-only, cleared by reading
//   0x0d       register D: VRT (RAM and time valid); read-only
//   0x0e-0x7f  CMOS memory (0x32 holds the century, kept in step with the clock)
//
// The time comes from the injected `clock` (UTC), shown in BCD or binary and in 12- or
// 24-hour form (bit 7 of the hours = PM) per register B. The guest may set the clock: the
// difference to `clock` is kept as an offset (with SET held, writes take effect when SET is
// cleared). Update-in-progress is shown during the last 244 µs of each second, as the
// datasheet's update cycle does. The update-ended (UF), alarm (AF) and periodic (PF) flags
// of register C are raised when an access observes that the clock has passed a second
// boundary, an alarm time, or a periodic-interrupt period since the previous access; this
// device drives no interrupt line, so a guest sees them by polling register C. PF is raised
// only while PIE is set: the datasheet sets it regardless, but QEMU, whose answers a real
// Linux boot recorded (tests/data/traces), does not, and Linux's probe reads register C.
//
// THE CLOCK (`clock`) is called on the thread that made the access (a vCPU thread, inside
// IoManager's read section) while the wrapper's device mutex is held: it must not access
// this device, and should be as cheap as reading the host's clock.
//
// Thread-safety: a DeviceIoMut, not thread-safe: wrap it in MutexDevice or ManagedDevice.

#ifndef DBS_DEVICE_DEVICES_CMOS_RTC_H_
#define DBS_DEVICE_DEVICES_CMOS_RTC_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "dbs_device/manager/device_io.h"
#include "dbs_device/resources/resources.h"

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

// Everything the RTC holds: a plain value.
struct CmosRtcState {
  uint8_t index = 0;
  bool nmi_masked = false;
  // Registers 0x0e-0x7f live here at their own index; 0x00-0x0d other than the alarms
  // are computed.
  std::array<uint8_t, cmos_rtc::kCmosSize> cmos{};
  uint8_t reg_a = 0x26;  // 32.768 kHz, 1024 Hz periodic rate
  uint8_t reg_b = cmos_rtc::kRegB24Hour;
  uint8_t reg_c = 0;
  absl::Duration offset;   // guest time - clock()
  absl::Time last_seen;    // the clock (plus offset) at the previous access
  absl::CivilSecond held;  // the time being set while SET is held

  friend bool operator==(const CmosRtcState&, const CmosRtcState&) = default;

  // The state as bytes, what a DeviceManager snapshot stores for the device. Readable by
  // later versions; a field a later version adds restores to its power-on value when the
  // bytes lack it (devices/internal/state.proto has the rules).
  std::string Encode() const;
  // The state in `bytes` (from Encode, of this version or another); kInvalidArgument,
  // naming the field, for bytes that do not parse or a value the device cannot hold.
  static absl::StatusOr<CmosRtcState> Decode(absl::string_view bytes);
};

class CmosRtc : public DeviceIoMut {
 public:
  // What a snapshot calls this device (DeviceFactory's key for it).
  static constexpr absl::string_view kKind = "cmos_rtc";

  explicit CmosRtc(std::function<absl::Time()> clock);
  // An RTC restored from `state` (read from another one with state()). It keeps the guest's
  // offset from the host clock, as a real RTC keeps time while the VM is saved: the guest
  // reads clock() + the same offset, so the time it sees has moved on with `clock`.
  CmosRtc(const CmosRtcState& state, std::function<absl::Time()> clock);

  // Ports 0x70-0x71, for DeviceManager (the RTC drives no interrupt here).
  static std::vector<ResourceConstraint> Constraints();

  // Host-side setup of a CMOS memory byte (e.g. memory size at 0x34/0x35).
  // REQUIRES: index >= 0x0e.
  void SetCmosByte(uint8_t index, uint8_t value);

  // The time the guest sees (clock plus the guest's adjustment).
  absl::Time GuestTime() const;
  bool nmi_masked() const { return state_.nmi_masked; }
  const CmosRtcState& state() const { return state_; }

  void PioRead(PioAddress base, PioAddress offset, absl::Span<uint8_t> data) override;
  void PioWrite(PioAddress base, PioAddress offset, absl::Span<const uint8_t> data) override;

  uint8_t ReadPort(uint64_t offset);
  void WritePort(uint64_t offset, uint8_t value);

 private:
  uint8_t ReadRegister(uint8_t index);
  void WriteRegister(uint8_t index, uint8_t value);
  // Raises UF/AF/PF for what happened between the previous access and now.
  void CatchUp();
  uint8_t Encode(int value) const;  // to BCD or binary per register B
  int Decode(uint8_t value) const;  // from BCD or binary per register B
  uint8_t EncodeHours(int hour) const;
  int DecodeHours(uint8_t value) const;
  void SetGuestTime(const absl::CivilSecond& time);

  std::function<absl::Time()> clock_;
  CmosRtcState state_;
};

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICES_CMOS_RTC_H_
