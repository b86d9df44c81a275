#include "dbs_device/devices/i8042.h"

#include "absl/strings/str_cat.h"

#include <utility>

namespace dbs {

using namespace i8042;  // NOLINT: the command names read best unqualified here

namespace {

// Keyboard commands (sent to port 0x60).
constexpr uint8_t kKbdSetLeds = 0xed;
constexpr uint8_t kKbdEcho = 0xee;
constexpr uint8_t kKbdScancodeSet = 0xf0;
constexpr uint8_t kKbdIdentify = 0xf2;
constexpr uint8_t kKbdTypematic = 0xf3;
constexpr uint8_t kKbdEnable = 0xf4;
constexpr uint8_t kKbdDisable = 0xf5;
constexpr uint8_t kKbdDefaults = 0xf6;
constexpr uint8_t kKbdResend = 0xfe;
constexpr uint8_t kKbdReset = 0xff;

// Mouse commands (sent through 0xd4).
constexpr uint8_t kAuxSetScaling11 = 0xe6;
constexpr uint8_t kAuxSetScaling21 = 0xe7;
constexpr uint8_t kAuxSetResolution = 0xe8;
constexpr uint8_t kAuxStatus = 0xe9;
constexpr uint8_t kAuxSetStream = 0xea;
constexpr uint8_t kAuxReadData = 0xeb;
constexpr uint8_t kAuxGetId = 0xf2;
constexpr uint8_t kAuxSetRate = 0xf3;
constexpr uint8_t kAuxEnable = 0xf4;
constexpr uint8_t kAuxDisable = 0xf5;
constexpr uint8_t kAuxDefaults = 0xf6;
constexpr uint8_t kAuxReset = 0xff;

}  // namespace

I8042::I8042(std::function<void()> reset_request, InterruptLine irq, InterruptLine aux_irq)
    : reset_request_(std::move(reset_request)),
      irq_(std::move(irq)),
      aux_irq_(std::move(aux_irq)) {}

I8042::I8042(const I8042State& state, std::function<void()> reset_request, InterruptLine irq,
             InterruptLine aux_irq)
    : reset_request_(std::move(reset_request)),
      irq_(std::move(irq)),
      aux_irq_(std::move(aux_irq)),
      state_(state) {
  if (state_.irq_level && irq_) irq_(true);
  if (state_.aux_irq_level && aux_irq_) aux_irq_(true);
}

std::vector<ResourceConstraint> I8042::Constraints() {
  return {PioConstraint{1, 1, AddressWindow<PioAddress>{kDataPort, kDataPort}},
          PioConstraint{1, 1, AddressWindow<PioAddress>{kCommandPort, kCommandPort}},
          LegacyIrqConstraint{kKeyboardIrq}};
}

void I8042::EnqueueScancodes(absl::Span<const uint8_t> codes) {
  if (!state_.keyboard_scanning) return;
  for (uint8_t code : codes) Push(code, /*aux=*/false);
  UpdateStatusAndIrq();
}

void I8042::Push(uint8_t byte, bool aux) {
  if (state_.output.size() < kMaxQueued) state_.output.emplace_back(byte, aux);
}

void I8042::RequestReset() {
  ++state_.reset_requests;
  if (reset_request_) reset_request_();
}

void I8042::UpdateStatusAndIrq() {
  state_.status &= ~(kStatusOutputFull | kStatusAuxData);
  bool kbd = false;
  bool aux = false;
  if (!state_.output.empty()) {
    state_.status |= kStatusOutputFull;
    if (state_.output.front().second) {
      state_.status |= kStatusAuxData;
      aux = (state_.config & kConfigAuxInterrupt) != 0;
    } else {
      kbd = (state_.config & kConfigKeyboardInterrupt) != 0;
    }
  }
  if (kbd != state_.irq_level) {
    state_.irq_level = kbd;
    if (irq_) irq_(kbd);
  }
  if (aux != state_.aux_irq_level) {
    state_.aux_irq_level = aux;
    if (aux_irq_) aux_irq_(aux);
  }
}

uint8_t I8042::ReadPort(bool command_port) {
  if (command_port) return state_.status;
  uint8_t byte = 0;
  if (!state_.output.empty()) {
    byte = state_.output.front().first;
    state_.output.pop_front();
  }
  UpdateStatusAndIrq();
  return byte;
}

void I8042::WritePort(bool command_port, uint8_t value) {
  if (command_port) {
    Command(value);
  } else {
    Data(value);
  }
  UpdateStatusAndIrq();
}

void I8042::Command(uint8_t command) {
  state_.pending_command = 0;
  switch (command) {
    case kCmdReadConfig:
      Push(state_.config, false);
      return;
    case kCmdWriteConfig:
    case kCmdWriteOutputPort:
    case kCmdWriteKeyboardBuffer:
    case kCmdWriteAuxBuffer:
    case kCmdWriteAux:
      state_.pending_command = command;  // the data byte follows on port 0x60
      return;
    case kCmdDisableAux:
      state_.config |= kConfigAuxDisabled;
      return;
    case kCmdEnableAux:
      state_.config &= ~kConfigAuxDisabled;
      return;
    case kCmdTestAux:
    case kCmdTestKeyboard:
      Push(kInterfaceTestPassed, false);
      return;
    case kCmdSelfTest:
      state_.status |= kStatusSystem;
      Push(kSelfTestPassed, false);
      return;
    case kCmdDisableKeyboard:
      state_.config |= kConfigKeyboardDisabled;
      return;
    case kCmdEnableKeyboard:
      state_.config &= ~kConfigKeyboardDisabled;
      return;
    case kCmdReadInputPort:
      Push(0x80, false);  // keyboard not inhibited by the key lock
      return;
    case kCmdReadOutputPort:
      Push(state_.output_port, false);
      return;
    case kCmdReadTestInputs:
      Push(0x00, false);
      return;
    default:
      break;
  }
  if (command >= kCmdPulseFirst) {
    // Pulse output lines whose bit is 0 in the low nibble; line 0 is the CPU reset.
    if ((command & 0x01) == 0) RequestReset();
  }
  // Other commands are ignored, as on many real controllers.
}

void I8042::Data(uint8_t value) {
  const uint8_t command = state_.pending_command;
  state_.pending_command = 0;
  switch (command) {
    case kCmdWriteConfig:
      state_.config = value;
      if (value & kConfigSystem) state_.status |= kStatusSystem;
      return;
    case kCmdWriteOutputPort:
      state_.output_port = value;
      if ((value & kOutputPortReset) == 0) RequestReset();
      return;
    case kCmdWriteKeyboardBuffer:
      Push(value, false);
      return;
    case kCmdWriteAuxBuffer:
      Push(value, true);
      return;
    case kCmdWriteAux:
      AuxCommand(value);
      return;
    default:
      KeyboardCommand(value);
  }
}

void I8042::KeyboardCommand(uint8_t value) {
  if (state_.keyboard_pending != 0) {
    // The argument of set LEDs / typematic rate / scancode set.
    const uint8_t command = state_.keyboard_pending;
    state_.keyboard_pending = 0;
    Push(kAck, false);
    if (command == kKbdScancodeSet && value == 0) Push(0x02, false);  // current set: 2
    return;
  }
  switch (value) {
    case kKbdSetLeds:
    case kKbdTypematic:
    case kKbdScancodeSet:
      state_.keyboard_pending = value;
      Push(kAck, false);
      return;
    case kKbdEcho:
      Push(kEcho, false);
      return;
    case kKbdIdentify:
      Push(kAck, false);
      Push(0xab, false);
      Push((state_.config & kConfigTranslate) ? 0x41 : 0x83, false);
      return;
    case kKbdEnable:
      state_.keyboard_scanning = true;
      Push(kAck, false);
      return;
    case kKbdDisable:
      state_.keyboard_scanning = false;
      Push(kAck, false);
      return;
    case kKbdDefaults:
      state_.keyboard_scanning = true;
      Push(kAck, false);
      return;
    case kKbdResend:
      Push(kAck, false);
      return;
    case kKbdReset:
      state_.keyboard_scanning = true;
      Push(kAck, false);
      Push(kBatPassed, false);
      return;
    default:
      Push(kResend, false);  // unknown command
  }
}

void I8042::AuxCommand(uint8_t value) {
  if (state_.aux_pending != 0) {
    state_.aux_pending = 0;  // the argument of set resolution / sample rate
    Push(kAck, true);
    return;
  }
  switch (value) {
    case kAuxSetResolution:
    case kAuxSetRate:
      state_.aux_pending = value;
      Push(kAck, true);
      return;
    case kAuxStatus:
      Push(kAck, true);
      Push(state_.aux_streaming ? 0x20 : 0x00, true);  // mode byte
      Push(0x02, true);                                // resolution: 4 counts/mm
      Push(100, true);                                 // sample rate
      return;
    case kAuxReadData:
      Push(kAck, true);
      Push(0x08, true);  // a motionless packet
      Push(0x00, true);
      Push(0x00, true);
      return;
    case kAuxGetId:
      Push(kAck, true);
      Push(0x00, true);  // a standard PS/2 mouse
      return;
    case kAuxEnable:
      state_.aux_streaming = true;
      Push(kAck, true);
      return;
    case kAuxDisable:
    case kAuxDefaults:
      state_.aux_streaming = false;
      Push(kAck, true);
      return;
    case kAuxSetScaling11:
    case kAuxSetScaling21:
    case kAuxSetStream:
      Push(kAck, true);
      return;
    case kAuxReset:
      state_.aux_streaming = false;
      Push(kAck, true);
      Push(kBatPassed, true);
      Push(0x00, true);
      return;
    default:
      Push(kResend, true);
  }
}

void I8042::PioRead(PioAddress base, PioAddress offset, absl::Span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = ReadPort(((base.raw_value() + offset.raw_value() + i) & 4) != 0);
  }
}

void I8042::PioWrite(PioAddress base, PioAddress offset, absl::Span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    WritePort(((base.raw_value() + offset.raw_value() + i) & 4) != 0, data[i]);
  }
}

}  // namespace dbs
