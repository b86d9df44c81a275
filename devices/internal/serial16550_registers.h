// devices/internal/serial16550_registers.h — the 16550A's register offsets and bits,
// named as in its datasheet, and the PC's COM port bases and IRQs.

#ifndef DBS_DEVICE_DEVICES_INTERNAL_SERIAL16550_REGISTERS_H_
#define DBS_DEVICE_DEVICES_INTERNAL_SERIAL16550_REGISTERS_H_

#include <cstddef>
#include <cstdint>

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

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICES_INTERNAL_SERIAL16550_REGISTERS_H_
