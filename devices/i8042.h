// devices/i8042.h — the PS/2 controller of a PC, as far as a Linux guest uses it.
//
// Two ports: data (0x60) and status/command (0x64). The device is registered as two one-port
// ranges (or one range covering both); it tells the ports apart by bit 2 of base + offset,
// so any placement that keeps the PC's 4-port spacing works. The controller holds the configuration
// byte ("command byte"), an output buffer fed by the controller itself, the keyboard and the
// auxiliary (mouse) port, and answers:
//
//   0x20 read / 0x60 write the configuration byte   0xa7/0xa8 disable/enable the aux port
//   0xa9 / 0xab test the aux / keyboard interface   0xaa self-test (answers 0x55)
//   0xad/0xae disable/enable the keyboard            0xc0 / 0xd0 read input / output port
//   0xd1 write the output port (bit 0 low: reset)   0xd2 / 0xd3 write the kbd / aux buffer
//   0xd4 send the next data byte to the aux device   0xf0-0xff pulse output lines (0xfe: reset)
//
// A reset request (0xfe, a pulse with bit 0 low, or the output port's bit 0 cleared) is
// reported through the `reset_request` callback: the VMM stops or restarts the VM.
// The keyboard and mouse behind the controller answer the commands Linux sends while
// probing (identify, enable/disable scanning, set LEDs, set typematic rate, reset, ...)
// with ACK and the replies of real devices; with translation on (configuration bit 6), the
// keyboard identifies as 0xab 0x41, as a translated AT keyboard does. Keys typed on the
// host enter with EnqueueScancodes.
//
// Status register: bit 0 output buffer full, 1 input buffer full (never: the controller
// takes bytes at once), 2 system flag, 3 command/data (kept set, as QEMU does), 4 keyboard
// not inhibited, 5 the byte in the output buffer is from the aux device. The initial state
// is the one a PC firmware leaves after POST: status 0x1c, configuration byte 0x61
// (translation, aux disabled, keyboard interrupt on).
//
// Interrupt lines: `irq` is IRQ 1 (keyboard data, when configuration bit 0 is set),
// `aux_irq` IRQ 12 (aux data, configuration bit 1).
//
// CALLBACKS (`reset_request`, `irq`) run on the thread that made the access (a vCPU thread, inside
// IoManager's read section) while the wrapper's device mutex is held: they must not access this
// device again, nor block on anything a writer holds while it waits for a grace period. Handing the
// event to another thread (an eventfd, a queue) is the safe pattern.
//
// Thread-safety: a DeviceIoMut, not thread-safe: wrap it in MutexDevice or ManagedDevice.

#ifndef DBS_DEVICE_DEVICES_I8042_H_
#define DBS_DEVICE_DEVICES_I8042_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "dbs_device/manager/device_io.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

namespace i8042 {

inline constexpr uint16_t kDataPort = 0x60;
inline constexpr uint16_t kCommandPort = 0x64;
inline constexpr uint32_t kKeyboardIrq = 1;
inline constexpr uint32_t kAuxIrq = 12;

// Status register bits.
inline constexpr uint8_t kStatusOutputFull = 0x01;
inline constexpr uint8_t kStatusInputFull = 0x02;
inline constexpr uint8_t kStatusSystem = 0x04;
inline constexpr uint8_t kStatusCommand = 0x08;
inline constexpr uint8_t kStatusUnlocked = 0x10;
inline constexpr uint8_t kStatusAuxData = 0x20;
inline constexpr uint8_t kStatusTimeout = 0x40;
inline constexpr uint8_t kStatusParity = 0x80;

// Configuration ("command") byte bits.
inline constexpr uint8_t kConfigKeyboardInterrupt = 0x01;
inline constexpr uint8_t kConfigAuxInterrupt = 0x02;
inline constexpr uint8_t kConfigSystem = 0x04;
inline constexpr uint8_t kConfigKeyboardDisabled = 0x10;
inline constexpr uint8_t kConfigAuxDisabled = 0x20;
inline constexpr uint8_t kConfigTranslate = 0x40;

// Controller commands (written to port 0x64).
inline constexpr uint8_t kCmdReadConfig = 0x20;
inline constexpr uint8_t kCmdWriteConfig = 0x60;
inline constexpr uint8_t kCmdDisableAux = 0xa7;
inline constexpr uint8_t kCmdEnableAux = 0xa8;
inline constexpr uint8_t kCmdTestAux = 0xa9;
inline constexpr uint8_t kCmdSelfTest = 0xaa;
inline constexpr uint8_t kCmdTestKeyboard = 0xab;
inline constexpr uint8_t kCmdDisableKeyboard = 0xad;
inline constexpr uint8_t kCmdEnableKeyboard = 0xae;
inline constexpr uint8_t kCmdReadInputPort = 0xc0;
inline constexpr uint8_t kCmdReadOutputPort = 0xd0;
inline constexpr uint8_t kCmdWriteOutputPort = 0xd1;
inline constexpr uint8_t kCmdWriteKeyboardBuffer = 0xd2;
inline constexpr uint8_t kCmdWriteAuxBuffer = 0xd3;
inline constexpr uint8_t kCmdWriteAux = 0xd4;
inline constexpr uint8_t kCmdReadTestInputs = 0xe0;
inline constexpr uint8_t kCmdPulseFirst = 0xf0;  // 0xf0-0xff: pulse output lines 0-3
inline constexpr uint8_t kCmdReset = 0xfe;

// Replies.
inline constexpr uint8_t kSelfTestPassed = 0x55;
inline constexpr uint8_t kInterfaceTestPassed = 0x00;
inline constexpr uint8_t kAck = 0xfa;
inline constexpr uint8_t kBatPassed = 0xaa;
inline constexpr uint8_t kEcho = 0xee;
inline constexpr uint8_t kResend = 0xfe;

// Output port bits.
inline constexpr uint8_t kOutputPortReset = 0x01;  // low: reset the CPU
inline constexpr uint8_t kOutputPortA20 = 0x02;

}  // namespace i8042

// Everything the controller holds: a plain value.
struct I8042State {
  uint8_t status = i8042::kStatusSystem | i8042::kStatusCommand | i8042::kStatusUnlocked;
  uint8_t config =
      i8042::kConfigTranslate | i8042::kConfigAuxDisabled | i8042::kConfigKeyboardInterrupt;
  uint8_t output_port = i8042::kOutputPortReset | i8042::kOutputPortA20;
  uint8_t pending_command = 0;   // a controller command waiting for its data byte
  uint8_t keyboard_pending = 0;  // a keyboard command waiting for its argument
  uint8_t aux_pending = 0;       // a mouse command waiting for its argument
  bool keyboard_scanning = true;
  bool aux_streaming = false;
  // Bytes waiting to be read from port 0x60, oldest first; `true` marks aux bytes.
  std::deque<std::pair<uint8_t, bool>> output;
  bool irq_level = false;
  bool aux_irq_level = false;
  uint64_t reset_requests = 0;

  friend bool operator==(const I8042State&, const I8042State&) = default;

  // The state as bytes, what a DeviceManager snapshot stores for the device. Readable by
  // later versions; a field a later version adds restores to its power-on value when the
  // bytes lack it (devices/internal/state.proto has the rules).
  std::string Encode() const;
  // The state in `bytes` (from Encode, of this version or another); kInvalidArgument,
  // naming the field, for bytes that do not parse or a value the device cannot hold.
  static absl::StatusOr<I8042State> Decode(absl::string_view bytes);
};

class I8042 : public DeviceIoMut {
 public:
  // What a snapshot calls this device (DeviceFactory's key for it).
  static constexpr absl::string_view kKind = "i8042";

  explicit I8042(std::function<void()> reset_request, std::function<void(bool)> irq = {},
                 std::function<void(bool)> aux_irq = {});
  // A controller restored from `state` (read from another one with state()), answering every
  // access as that one would have, with its pending output bytes. An interrupt line that was
  // high is reported high again through `irq` / `aux_irq` at once.
  I8042(const I8042State& state, std::function<void()> reset_request,
        std::function<void(bool)> irq = {}, std::function<void(bool)> aux_irq = {});

  // Scancodes from the host keyboard (in the set the guest expects), queued for port 0x60.
  void EnqueueScancodes(absl::Span<const uint8_t> codes);

  // Port 0x60, port 0x64 and IRQ 1, for DeviceManager.
  static std::vector<ResourceConstraint> Constraints();

  const I8042State& state() const { return state_; }

  // base + offset with bit 2 clear is the data port, with bit 2 set the command port.
  void PioRead(PioAddress base, PioAddress offset, absl::Span<uint8_t> data) override;
  void PioWrite(PioAddress base, PioAddress offset, absl::Span<const uint8_t> data) override;

  uint8_t ReadPort(bool command_port);
  void WritePort(bool command_port, uint8_t value);

 private:
  void Command(uint8_t command);
  void Data(uint8_t value);
  void KeyboardCommand(uint8_t value);
  void AuxCommand(uint8_t value);
  void Push(uint8_t byte, bool aux);
  void RequestReset();
  void UpdateStatusAndIrq();

  std::function<void()> reset_request_;
  std::function<void(bool)> irq_;
  std::function<void(bool)> aux_irq_;
  I8042State state_;
};

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICES_I8042_H_
