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
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "dbs_device/manager/device_io.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

namespace serial16550 {

// Register offsets.
inline constexpr uint8_t kRbr = 0;  // receiver buffer (read, DLAB=0)
inline constexpr uint8_t kThr = 0;  // transmitter holding (write, DLAB=0)
inline constexpr uint8_t kDll = 0;  // divisor latch low (DLAB=1)
inline constexpr uint8_t kIer = 1;  // interrupt enable (DLAB=0)
inline constexpr uint8_t kDlm = 1;  // divisor latch high (DLAB=1)
inline constexpr uint8_t kIir = 2;  // interrupt identification (read)
inline constexpr uint8_t kFcr = 2;  // FIFO control (write)
inline constexpr uint8_t kLcr = 3;  // line control
inline constexpr uint8_t kMcr = 4;  // modem control
inline constexpr uint8_t kLsr = 5;  // line status
inline constexpr uint8_t kMsr = 6;  // modem status
inline constexpr uint8_t kScr = 7;  // scratch
inline constexpr uint8_t kRegisterCount = 8;

// IER bits.
inline constexpr uint8_t kIerRdi = 0x01;   // received data available
inline constexpr uint8_t kIerThri = 0x02;  // THR empty
inline constexpr uint8_t kIerRlsi = 0x04;  // receiver line status
inline constexpr uint8_t kIerMsi = 0x08;   // modem status
inline constexpr uint8_t kIerMask = 0x0f;  // the writable bits

// IIR values and bits.
inline constexpr uint8_t kIirNoInt = 0x01;   // no interrupt pending
inline constexpr uint8_t kIirMsi = 0x00;     // modem status
inline constexpr uint8_t kIirThri = 0x02;    // THR empty
inline constexpr uint8_t kIirRdi = 0x04;     // received data available
inline constexpr uint8_t kIirRlsi = 0x06;    // receiver line status
inline constexpr uint8_t kIirCti = 0x0c;     // character timeout
inline constexpr uint8_t kIirIdMask = 0x0e;  // the interrupt identification bits
inline constexpr uint8_t kIirFifos = 0xc0;   // FIFOs enabled

// FCR bits.
inline constexpr uint8_t kFcrEnable = 0x01;       // FIFO enable
inline constexpr uint8_t kFcrClearRx = 0x02;      // clear the receive FIFO
inline constexpr uint8_t kFcrClearTx = 0x04;      // clear the transmit FIFO
inline constexpr uint8_t kFcrDmaMode = 0x08;      // DMA mode select
inline constexpr uint8_t kFcrTriggerMask = 0xc0;  // receive trigger level: 1, 4, 8, 14
inline constexpr uint8_t kFcrSticky = 0xc9;       // the bits that stay set

// LCR bits.
inline constexpr uint8_t kLcrWordLengthMask = 0x03;  // 5 to 8 data bits
inline constexpr uint8_t kLcrStopBits = 0x04;        // 2 stop bits
inline constexpr uint8_t kLcrParity = 0x08;          // parity enable
inline constexpr uint8_t kLcrEvenParity = 0x10;      // even parity
inline constexpr uint8_t kLcrStickParity = 0x20;     // stick parity
inline constexpr uint8_t kLcrBreak = 0x40;           // set break
inline constexpr uint8_t kLcrDlab = 0x80;            // divisor latch access

// MCR bits.
inline constexpr uint8_t kMcrDtr = 0x01;   // data terminal ready
inline constexpr uint8_t kMcrRts = 0x02;   // request to send
inline constexpr uint8_t kMcrOut1 = 0x04;  // OUT1
inline constexpr uint8_t kMcrOut2 = 0x08;  // OUT2 (gates the IRQ on PCs)
inline constexpr uint8_t kMcrLoop = 0x10;  // loopback
inline constexpr uint8_t kMcrMask = 0x1f;  // the writable bits

// LSR bits.
inline constexpr uint8_t kLsrDr = 0x01;       // data ready
inline constexpr uint8_t kLsrOe = 0x02;       // overrun error
inline constexpr uint8_t kLsrPe = 0x04;       // parity error
inline constexpr uint8_t kLsrFe = 0x08;       // framing error
inline constexpr uint8_t kLsrBi = 0x10;       // break interrupt
inline constexpr uint8_t kLsrThre = 0x20;     // THR empty
inline constexpr uint8_t kLsrTemt = 0x40;     // transmitter empty
inline constexpr uint8_t kLsrFifoErr = 0x80;  // error in receive FIFO
inline constexpr uint8_t kLsrErrors = kLsrOe | kLsrPe | kLsrFe | kLsrBi;

// MSR bits.
inline constexpr uint8_t kMsrDcts = 0x01;  // delta CTS
inline constexpr uint8_t kMsrDdsr = 0x02;  // delta DSR
inline constexpr uint8_t kMsrTeri = 0x04;  // trailing edge of RI
inline constexpr uint8_t kMsrDdcd = 0x08;  // delta DCD
inline constexpr uint8_t kMsrCts = 0x10;   // clear to send
inline constexpr uint8_t kMsrDsr = 0x20;   // data set ready
inline constexpr uint8_t kMsrRi = 0x40;    // ring indicator
inline constexpr uint8_t kMsrDcd = 0x80;   // data carrier detect
inline constexpr uint8_t kMsrDeltas = 0x0f;

inline constexpr size_t kFifoSize = 16;

// PC COM port bases and IRQs.
inline constexpr uint16_t kCom1 = 0x3f8;
inline constexpr uint16_t kCom2 = 0x2f8;
inline constexpr uint32_t kCom1Irq = 4;
inline constexpr uint32_t kCom2Irq = 3;

}  // namespace serial16550

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

  // The state as bytes, what a DeviceManager snapshot stores for the device. Readable by
  // later versions; a field a later version adds restores to its power-on value when the
  // bytes lack it (devices/internal/state.proto has the rules).
  std::string Encode() const;
  // The state in `bytes` (from Encode, of this version or another); kInvalidArgument,
  // naming the field, for bytes that do not parse or a value the device cannot hold.
  static absl::StatusOr<Serial16550State> Decode(absl::string_view bytes);
};

class Serial16550 : public DeviceIoMut {
 public:
  // What a snapshot calls this device (DeviceFactory's key for it).
  static constexpr absl::string_view kKind = "serial16550";

  // `output` receives every byte the guest transmits (not in loopback); `irq`, if given,
  // every change of the interrupt line.
  explicit Serial16550(std::function<void(uint8_t)> output, std::function<void(bool)> irq = {});
  // A UART restored from `state` (read from another one with state()), answering every
  // access as that one would have. If its interrupt line was high, `irq` is told so at once.
  Serial16550(const Serial16550State& state, std::function<void(uint8_t)> output,
              std::function<void(bool)> irq = {});

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
  std::function<void(bool)> irq_;
  Serial16550State state_;
};

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICES_SERIAL16550_H_
