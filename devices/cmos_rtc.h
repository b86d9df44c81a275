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
// Linux boot recorded (testing/traces), does not, and Linux's probe reads register C.
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
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "dbs_device/base/schema.h"
#include "dbs_device/device/device_io.h"
#include "dbs_device/devices/internal/cmos_rtc_registers.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

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

  // The state as bytes, what a DeviceManager snapshot stores for the device, by Schema()
  // (a later version reads them; base/schema.h has the rules).
  std::string Encode() const { return schema::Encode(*this); }
  // The state in `bytes` (from Encode, of this version or another): a field the bytes lack
  // keeps its power-on value; kInvalidArgument, naming the field, for bytes that do not
  // parse or a value the device cannot hold.
  static absl::StatusOr<CmosRtcState> Decode(absl::string_view bytes) {
    return schema::Decode<CmosRtcState>(bytes);
  }
  // The fields, numbered for the snapshot format (defined below).
  static constexpr auto Schema();
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

constexpr auto CmosRtcState::Schema() {
  namespace s = schema;
  using S = CmosRtcState;
  // Times as seconds and nanoseconds, as google.protobuf.Duration and Timestamp keep them:
  // a guest may set any year from 0 to 9999, beyond what int64 nanoseconds hold.
  return s::Message<S>(
      "cmos_rtc state", s::Presence::kExplicit, s::Uint(1, "index", &S::index),
      s::Uint(2, "nmi_masked", &S::nmi_masked), s::Bytes(3, "cmos", &S::cmos),
      s::Uint(4, "reg_a", &S::reg_a), s::Uint(5, "reg_b", &S::reg_b),
      s::Uint(6, "reg_c", &S::reg_c), s::Seconds(7, "offset", &S::offset),
      s::Seconds(9, "last_seen", &S::last_seen),
      s::Computed(
          11, "held_civil_seconds", [](const S& st) { return st.held - absl::CivilSecond(); },
          [](S& st, int64_t seconds) { st.held = absl::CivilSecond() + seconds; }),
      s::Check([](const S& st) -> std::optional<s::Invalid> {
        if (st.index > cmos_rtc::kIndexMask) {
          return s::Invalid{"index", "past the CMOS's last register"};
        }
        return std::nullopt;
      }));
}

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICES_CMOS_RTC_H_
