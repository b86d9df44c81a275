// Fuzzes the devices with arbitrary accesses (any offset, width and value) mixed with host
// input and clock steps, checking after every access the invariants each device promises:
// the UART's FIFO depth and head stay in bounds and its interrupt line agrees with IIR; the
// i8042's status agrees with its output buffer; the RTC's time registers stay valid BCD.

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/time/time.h"
#include "dbs_device/devices/cmos_rtc.h"
#include "dbs_device/devices/i8042.h"
#include "dbs_device/devices/serial16550.h"
#define DBS_FUZZ_TARGET "devices_fuzz"
#include "dbs_device/tests/fuzz/fuzz_input.h"

namespace dbs::fuzz {
namespace {

void CheckSerial(const Serial16550& uart, bool irq_line) {
  const Serial16550State& s = uart.state();
  DBS_FUZZ_CHECK(s.rx_count <= serial16550::kFifoSize, "FIFO depth");
  DBS_FUZZ_CHECK(s.rx_head < serial16550::kFifoSize, "FIFO head");
  DBS_FUZZ_CHECK(s.irq_level == ((s.iir & serial16550::kIirNoInt) == 0), "IRQ vs IIR");
  DBS_FUZZ_CHECK(irq_line == s.irq_level, "reported IRQ line");
  const uint8_t id = s.iir & 0x0f;
  DBS_FUZZ_CHECK(id == 0x01 || id == 0x00 || id == 0x02 || id == 0x04 || id == 0x06 || id == 0x0c,
                 "IIR identification");
  DBS_FUZZ_CHECK((s.ier & ~serial16550::kIerMask) == 0, "IER reserved bits");
  DBS_FUZZ_CHECK((s.mcr & ~serial16550::kMcrMask) == 0, "MCR reserved bits");
}

void CheckI8042(const I8042& kbc) {
  const I8042State& s = kbc.state();
  DBS_FUZZ_CHECK(s.output.size() <= 64, "output queue bound");
  DBS_FUZZ_CHECK(((s.status & i8042::kStatusOutputFull) != 0) == !s.output.empty(), "OBF");
  DBS_FUZZ_CHECK((s.status & i8042::kStatusInputFull) == 0, "IBF");
}

void RunOne(FuzzInput& in) {
  bool serial_irq = false;
  Serial16550 uart([](uint8_t) {}, [&](bool level) { serial_irq = level; });
  I8042 kbc([] {});
  absl::Time now = absl::FromUnixSeconds(1790000000);
  CmosRtc rtc([&] { return now; });
  for (int step = 0; step < 400 && !in.empty(); ++step) {
    const int device = in.Below(3);
    const int op = in.Below(8);
    const uint16_t offset = in.Below(10);
    const size_t width = size_t{1} << in.Below(4);
    std::vector<uint8_t> data(width);
    for (uint8_t& b : data) b = in.U8();
    if (device == 0) {
      if (op == 0) {
        uart.EnqueueInput(data);
      } else if (op < 4) {
        uart.PioWrite(PioAddress{0x3f8}, PioAddress{offset}, data);
      } else if (op == 4) {
        uart.Write(IoAddress{0}, IoAddress{in.U64()}, data);
      } else {
        uart.PioRead(PioAddress{0x3f8}, PioAddress{offset}, absl::MakeSpan(data));
      }
      CheckSerial(uart, serial_irq);
    } else if (device == 1) {
      if (op == 0) {
        kbc.EnqueueScancodes(data);
      } else if (op < 4) {
        kbc.PioWrite(PioAddress{0x60}, PioAddress{offset}, data);
      } else {
        kbc.PioRead(PioAddress{0x60}, PioAddress{offset}, absl::MakeSpan(data));
      }
      CheckI8042(kbc);
    } else {
      if (op == 0) {
        now += absl::Microseconds(in.U16()) * (1 + in.Below(100));
      } else if (op < 4) {
        rtc.PioWrite(PioAddress{0x70}, PioAddress{offset}, data);
      } else {
        rtc.PioRead(PioAddress{0x70}, PioAddress{offset}, absl::MakeSpan(data));
      }
      DBS_FUZZ_CHECK(rtc.state().index < cmos_rtc::kCmosSize, "CMOS index");
      // With BCD selected, every time register reads as valid BCD.
      if (!(rtc.state().reg_b & cmos_rtc::kRegBBinary) &&
          !(rtc.state().reg_b & cmos_rtc::kRegBSet)) {
        const uint8_t saved = rtc.state().index;
        for (uint8_t reg : {cmos_rtc::kSeconds, cmos_rtc::kMinutes, cmos_rtc::kDayOfMonth,
                            cmos_rtc::kMonth, cmos_rtc::kYear, cmos_rtc::kCentury}) {
          rtc.WritePort(0, reg);
          const uint8_t v = rtc.ReadPort(1);
          DBS_FUZZ_CHECK((v & 0x0f) <= 9 && (v >> 4) <= 9, "BCD time register");
        }
        rtc.WritePort(0, saved);
      }
    }
  }
}

}  // namespace
}  // namespace dbs::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dbs::fuzz::FuzzInput in(data, size);
  dbs::fuzz::RunOne(in);
  return 0;
}
