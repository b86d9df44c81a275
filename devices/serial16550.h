// devices/serial16550.h — a 16550A UART, as its datasheet describes it and as a Linux 8250
// driver sees it.
//
// Eight registers at offsets 0-7 of the device's range (a PC's COM1 is 0x3f8-0x3ff, IRQ 4):
// RBR/THR and the divisor latch (DLAB), IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR. Bytes the
// guest transmits go to the `output` callback at once (the line is infinitely fast: THR and
// the transmitter are empty again by the time the write returns, so LSR reads 0x60 and
// THRE interrupts are raised again after every byte, as QEMU does). Bytes from the host
// enter the 16-byte receive FIFO through EnqueueInput. The interrupt line is reported to
// the `irq` callback on every change of level.
//
// Interrupt identification follows the datasheet's priorities: receiver line status (OE,
// PE, FE, BI), then received data available (FIFO at its trigger level, or any data with
// FIFOs off), then character timeout, then THR empty, then modem status. The THRE
// interrupt is set when THR empties and when IER's THRI bit is turned on while THR is
// empty, and cleared by reading IIR while it is the reported source or by writing THR.
// With no clock, the character timeout is taken to have elapsed as soon as data sits below
// the trigger level, so received bytes are always announced.
//
// Loopback (MCR bit 4), which Linux's autoconfig uses: transmitted bytes are received, host
// input is ignored, and MSR reflects MCR (DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD).
//
// Accesses wider than a byte are split into byte accesses at consecutive offsets, as QEMU
// does; offsets past 7 read 0xff and ignore writes.
//
// CALLBACKS (`output`, `irq`) run on the thread that made the access (a vCPU thread, inside
// IoManager's read section) while the wrapper's device mutex is held: they must not access this
// device again, nor block on anything a writer holds while it waits for a grace period. Handing the
// event to another thread (an eventfd, a queue) is the safe pattern.
//
// Thread-safety: a DeviceIoMut, not thread-safe: wrap it in MutexDevice (or
// ManagedDevice) to register it.

#ifndef DBS_DEVICE_DEVICES_SERIAL16550_H_
#define DBS_DEVICE_DEVICES_SERIAL16550_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "dbs_device/base/schema.h"
#include "dbs_device/device/device_io.h"
#include "dbs_device/device/interrupt_line.h"
#include "dbs_device/devices/internal/serial16550_registers.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

// Everything the UART holds: a plain value, for inspection and snapshots.
struct Serial16550State {
  uint8_t rbr = 0;  // the last received byte (what RBR reads with FIFOs off)
  uint8_t ier = 0;
  uint8_t iir = serial16550::kIirNoInt;  // the last computed IIR (with its FIFO bits)
  uint8_t fcr = 0;
  uint8_t lcr = 0;
  uint8_t mcr = serial16550::kMcrOut2;
  uint8_t lsr = serial16550::kLsrThre | serial16550::kLsrTemt;
  uint8_t msr = serial16550::kMsrDcd | serial16550::kMsrDsr | serial16550::kMsrCts;
  uint8_t scr = 0;
  uint16_t divisor = 0x0c;  // 9600 baud
  std::array<uint8_t, serial16550::kFifoSize> rx_fifo{};
  uint8_t rx_head = 0;   // index of the oldest byte
  uint8_t rx_count = 0;  // bytes in the receive FIFO
  uint8_t rx_trigger = 1;
  bool thr_interrupt_pending = false;
  bool timeout_pending = false;
  bool irq_level = false;

  friend bool operator==(const Serial16550State&, const Serial16550State&) = default;

  // The state as bytes, what a DeviceManager snapshot stores for the device, by Schema()
  // (a later version reads them; base/schema.h has the rules).
  std::string Encode() const { return schema::Encode(*this); }
  // The state in `bytes` (from Encode, of this version or another): a field the bytes lack
  // keeps its power-on value; kInvalidArgument, naming the field, for bytes that do not
  // parse or a value the device cannot hold.
  static absl::StatusOr<Serial16550State> Decode(absl::string_view bytes) {
    return schema::Decode<Serial16550State>(bytes);
  }
  // The fields, numbered for the snapshot format (defined below).
  static constexpr auto Schema();
};

class Serial16550 : public DeviceIoMut {
 public:
  // What a snapshot calls this device (DeviceFactory's key for it).
  static constexpr absl::string_view kKind = "serial16550";

  // `output` receives every byte the guest transmits (not in loopback); `irq`, if given,
  // every change of the interrupt line.
  explicit Serial16550(std::function<void(uint8_t)> output, InterruptLine irq = {});
  // A UART restored from `state` (read from another one with state()), answering every
  // access as that one would have. If its interrupt line was high, `irq` is told so at once.
  Serial16550(const Serial16550State& state, std::function<void(uint8_t)> output,
              InterruptLine irq = {});

  // Bytes arriving from the host, received in order. With FIFOs on, a byte arriving to a
  // full FIFO is lost and sets LSR.OE (an overrun); with FIFOs off, any byte not yet read
  // is overwritten, also an overrun. Ignored in loopback mode. Returns the bytes stored.
  size_t EnqueueInput(absl::Span<const uint8_t> bytes);
  // Bytes the receive FIFO can take without an overrun.
  size_t InputSpace() const;

  // The 8 ports of a COM port at `base` and its IRQ, for DeviceManager.
  static std::vector<ResourceConstraint> Constraints(uint16_t base = serial16550::kCom1,
                                                     uint32_t irq = serial16550::kCom1Irq);

  const Serial16550State& state() const { return state_; }

  // Port and MMIO accesses are the same registers.
  void PioRead(PioAddress base, PioAddress offset, absl::Span<uint8_t> data) override;
  void PioWrite(PioAddress base, PioAddress offset, absl::Span<const uint8_t> data) override;
  void Read(IoAddress base, IoAddress offset, absl::Span<uint8_t> data) override;
  void Write(IoAddress base, IoAddress offset, absl::Span<const uint8_t> data) override;

  // One register access.
  uint8_t ReadRegister(uint64_t offset);
  void WriteRegister(uint64_t offset, uint8_t value);

 private:
  void Receive(uint8_t byte);
  void Transmit(uint8_t byte);
  uint8_t PopRx();
  void WriteFcr(uint8_t value);
  // Recomputes IIR from the pending conditions and reports the line if it changed.
  void UpdateInterrupt();

  std::function<void(uint8_t)> output_;
  InterruptLine irq_;
  Serial16550State state_;
};

constexpr auto Serial16550State::Schema() {
  namespace s = schema;
  using S = Serial16550State;
  return s::Message<S>(
      "serial16550 state", s::Presence::kExplicit, s::Uint(1, "rbr", &S::rbr),
      s::Uint(2, "ier", &S::ier), s::Uint(3, "iir", &S::iir), s::Uint(4, "fcr", &S::fcr),
      s::Uint(5, "lcr", &S::lcr), s::Uint(6, "mcr", &S::mcr), s::Uint(7, "lsr", &S::lsr),
      s::Uint(8, "msr", &S::msr), s::Uint(9, "scr", &S::scr), s::Uint(10, "divisor", &S::divisor),
      s::Bytes(11, "rx_fifo", &S::rx_fifo), s::Uint(12, "rx_head", &S::rx_head),
      s::Uint(13, "rx_count", &S::rx_count), s::Uint(14, "rx_trigger", &S::rx_trigger),
      s::Uint(15, "thr_interrupt_pending", &S::thr_interrupt_pending),
      s::Uint(16, "timeout_pending", &S::timeout_pending), s::Uint(17, "irq_level", &S::irq_level),
      s::Check([](const S& st) -> std::optional<s::Invalid> {
        if (st.rx_head >= st.rx_fifo.size()) return s::Invalid{"rx_head", "past the FIFO's end"};
        if (st.rx_count > st.rx_fifo.size()) {
          return s::Invalid{"rx_count", "more bytes than the FIFO holds"};
        }
        return std::nullopt;
      }));
}

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICES_SERIAL16550_H_
