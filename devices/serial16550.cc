#include "dbs_device/devices/serial16550.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

#include <utility>

namespace dbs {

using namespace serial16550;  // NOLINT: the register names read best unqualified here

Serial16550::Serial16550(std::function<void(uint8_t)> output, InterruptLine irq)
    : output_(std::move(output)), irq_(std::move(irq)) {}

Serial16550::Serial16550(const Serial16550State& state, std::function<void(uint8_t)> output,
                         InterruptLine irq)
    : output_(std::move(output)), irq_(std::move(irq)), state_(state) {
  if (state_.irq_level) irq_.Set(true);
}

std::vector<ResourceConstraint> Serial16550::Constraints(uint16_t base, uint32_t irq) {
  const uint16_t last = base + kRegisterCount - 1;
  return {PioConstraint{kRegisterCount, 1, AddressWindow<PioAddress>{base, last}},
          LegacyIrqConstraint{irq}};
}

size_t Serial16550::InputSpace() const {
  if (state_.mcr & kMcrLoop) return 0;
  if (state_.fcr & kFcrEnable) return kFifoSize - state_.rx_count;
  return (state_.lsr & kLsrDr) ? 0 : 1;
}

size_t Serial16550::EnqueueInput(absl::Span<const uint8_t> bytes) {
  if (state_.mcr & kMcrLoop) return 0;  // the serial input is disconnected in loopback
  size_t stored = 0;
  for (uint8_t byte : bytes) {
    const bool had_room = InputSpace() > 0;
    Receive(byte);
    stored += had_room;
  }
  return stored;
}

void Serial16550::Receive(uint8_t byte) {
  if (state_.fcr & kFcrEnable) {
    if (state_.rx_count == kFifoSize) {
      state_.lsr |= kLsrOe;  // the byte is lost
    } else {
      state_.rx_fifo[(state_.rx_head + state_.rx_count) % kFifoSize] = byte;
      ++state_.rx_count;
    }
    // No clock: the character timeout counts as elapsed while data waits below the trigger.
    state_.timeout_pending = state_.rx_count < state_.rx_trigger;
  } else {
    if (state_.lsr & kLsrDr) state_.lsr |= kLsrOe;
    state_.rbr = byte;
  }
  state_.lsr |= kLsrDr;
  UpdateInterrupt();
}

uint8_t Serial16550::PopRx() {
  if (state_.rx_count == 0) return 0;
  const uint8_t byte = state_.rx_fifo[state_.rx_head];
  state_.rx_head = (state_.rx_head + 1) % kFifoSize;
  --state_.rx_count;
  return byte;
}

void Serial16550::Transmit(uint8_t byte) {
  // THR and the shift register empty at once: the line is infinitely fast.
  state_.thr_interrupt_pending = false;
  state_.lsr &= ~(kLsrThre | kLsrTemt);
  UpdateInterrupt();
  if (state_.mcr & kMcrLoop) {
    Receive(byte);
  } else if (output_) {
    output_(byte);
  }
  state_.lsr |= kLsrThre | kLsrTemt;
  state_.thr_interrupt_pending = true;
  UpdateInterrupt();
}

void Serial16550::WriteFcr(uint8_t value) {
  // Turning the FIFOs on or off clears both.
  if ((value ^ state_.fcr) & kFcrEnable) value |= kFcrClearRx | kFcrClearTx;
  if (value & kFcrClearRx) {
    state_.lsr &= ~(kLsrDr | kLsrBi);
    state_.timeout_pending = false;
    state_.rx_head = 0;
    state_.rx_count = 0;
  }
  if (value & kFcrClearTx) {
    state_.lsr |= kLsrThre;
    state_.thr_interrupt_pending = true;
  }
  state_.fcr = value & kFcrSticky;
  if (state_.fcr & kFcrEnable) {
    state_.iir |= kIirFifos;
    static constexpr uint8_t kTriggers[] = {1, 4, 8, 14};
    state_.rx_trigger = kTriggers[(state_.fcr & kFcrTriggerMask) >> 6];
  } else {
    state_.iir &= ~kIirFifos;
  }
  UpdateInterrupt();
}

void Serial16550::UpdateInterrupt() {
  uint8_t id = kIirNoInt;
  if ((state_.ier & kIerRlsi) && (state_.lsr & kLsrErrors)) {
    id = kIirRlsi;
  } else if ((state_.ier & kIerRdi) && state_.timeout_pending) {
    id = kIirCti;
  } else if ((state_.ier & kIerRdi) && (state_.lsr & kLsrDr) &&
             (!(state_.fcr & kFcrEnable) || state_.rx_count >= state_.rx_trigger)) {
    id = kIirRdi;
  } else if ((state_.ier & kIerThri) && state_.thr_interrupt_pending) {
    id = kIirThri;
  } else if ((state_.ier & kIerMsi) && (state_.msr & kMsrDeltas)) {
    id = kIirMsi;
  }
  state_.iir = id | (state_.iir & kIirFifos);
  const bool level = id != kIirNoInt;
  if (level != state_.irq_level) {
    state_.irq_level = level;
    if (irq_) irq_(level);
  }
}

uint8_t Serial16550::ReadRegister(uint64_t offset) {
  const bool dlab = state_.lcr & kLcrDlab;
  switch (offset) {
    case kRbr: {
      if (dlab) return state_.divisor & 0xff;
      uint8_t byte;
      if (state_.fcr & kFcrEnable) {
        byte = PopRx();
        if (state_.rx_count == 0) state_.lsr &= ~(kLsrDr | kLsrBi);
        state_.timeout_pending = false;
      } else {
        byte = state_.rbr;
        state_.lsr &= ~(kLsrDr | kLsrBi);
      }
      UpdateInterrupt();
      return byte;
    }
    case kIer:
      return dlab ? state_.divisor >> 8 : state_.ier;
    case kIir: {
      const uint8_t iir = state_.iir;
      // Reading IIR while THRE is the reported source acknowledges it.
      if ((iir & kIirIdMask) == kIirThri) {
        state_.thr_interrupt_pending = false;
        UpdateInterrupt();
      }
      return iir;
    }
    case kLcr:
      return state_.lcr;
    case kMcr:
      return state_.mcr;
    case kLsr: {
      const uint8_t lsr = state_.lsr;
      if (lsr & (kLsrBi | kLsrOe)) {
        state_.lsr &= ~(kLsrBi | kLsrOe);
        UpdateInterrupt();
      }
      return lsr;
    }
    case kMsr: {
      if (state_.mcr & kMcrLoop) {
        // The modem outputs are wired to the inputs.
        return static_cast<uint8_t>(((state_.mcr & (kMcrOut1 | kMcrOut2)) << 4) |
                                    ((state_.mcr & kMcrRts) << 3) | ((state_.mcr & kMcrDtr) << 5));
      }
      const uint8_t msr = state_.msr;
      if (msr & kMsrDeltas) {
        state_.msr &= ~kMsrDeltas;
        UpdateInterrupt();
      }
      return msr;
    }
    case kScr:
      return state_.scr;
    default:
      return 0xff;  // no register: the bus floats high
  }
}

void Serial16550::WriteRegister(uint64_t offset, uint8_t value) {
  const bool dlab = state_.lcr & kLcrDlab;
  switch (offset) {
    case kThr:
      if (dlab) {
        state_.divisor = (state_.divisor & 0xff00) | value;
      } else {
        Transmit(value);
      }
      return;
    case kIer: {
      if (dlab) {
        state_.divisor = static_cast<uint16_t>((state_.divisor & 0x00ff) | (value << 8));
        return;
      }
      const uint8_t changed = (state_.ier ^ value) & kIerMask;
      state_.ier = value & kIerMask;
      // Turning THRI on while THR is empty raises the THRE interrupt (turning it off drops it).
      if (changed & kIerThri) {
        state_.thr_interrupt_pending = (state_.ier & kIerThri) && (state_.lsr & kLsrThre);
      }
      if (changed) UpdateInterrupt();
      return;
    }
    case kFcr:
      WriteFcr(value);
      return;
    case kLcr:
      state_.lcr = value;
      return;
    case kMcr:
      state_.mcr = value & kMcrMask;
      return;
    case kScr:
      state_.scr = value;
      return;
    default:
      return;  // LSR and MSR are read-only; offsets past 7 hold nothing
  }
}

void Serial16550::PioRead(PioAddress, PioAddress offset, absl::Span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) data[i] = ReadRegister(offset.raw_value() + i);
}

void Serial16550::PioWrite(PioAddress, PioAddress offset, absl::Span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) WriteRegister(offset.raw_value() + i, data[i]);
}

// The offset of byte `i` of an access at `offset`, saturating instead of wrapping to 0.
static uint64_t ByteOffset(IoAddress offset, size_t i) {
  const uint64_t at = offset.raw_value() + i;
  return at < offset.raw_value() ? ~uint64_t{0} : at;
}

void Serial16550::Read(IoAddress, IoAddress offset, absl::Span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) data[i] = ReadRegister(ByteOffset(offset, i));
}

void Serial16550::Write(IoAddress, IoAddress offset, absl::Span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) WriteRegister(ByteOffset(offset, i), data[i]);
}

}  // namespace dbs
