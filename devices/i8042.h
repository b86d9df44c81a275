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
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "dbs_device/base/schema.h"
#include "dbs_device/device/device_io.h"
#include "dbs_device/device/interrupt_line.h"
#include "dbs_device/devices/internal/i8042_registers.h"
#include "dbs_device/resources/resources.h"

namespace dbs {

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

  // The state as bytes, what a DeviceManager snapshot stores for the device, by Schema()
  // (a later version reads them; base/schema.h has the rules).
  std::string Encode() const { return schema::Encode(*this); }
  // The state in `bytes` (from Encode, of this version or another): a field the bytes lack
  // keeps its power-on value; kInvalidArgument, naming the field, for bytes that do not
  // parse or a value the device cannot hold.
  static absl::StatusOr<I8042State> Decode(absl::string_view bytes) {
    return schema::Decode<I8042State>(bytes);
  }
  // The fields, numbered for the snapshot format (defined below).
  static constexpr auto Schema();
};

class I8042 : public DeviceIoMut {
 public:
  // What a snapshot calls this device (DeviceFactory's key for it).
  static constexpr absl::string_view kKind = "i8042";

  explicit I8042(std::function<void()> reset_request, InterruptLine irq = {},
                 InterruptLine aux_irq = {});
  // A controller restored from `state` (read from another one with state()), answering every
  // access as that one would have, with its pending output bytes. An interrupt line that was
  // high is reported high again through `irq` / `aux_irq` at once.
  I8042(const I8042State& state, std::function<void()> reset_request, InterruptLine irq = {},
        InterruptLine aux_irq = {});

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
  InterruptLine irq_;
  InterruptLine aux_irq_;
  I8042State state_;
};

constexpr auto I8042State::Schema() {
  namespace s = schema;
  using S = I8042State;
  return s::Message<S>(
      "i8042 state", s::Presence::kExplicit, s::Uint(1, "status", &S::status),
      s::Uint(2, "config", &S::config), s::Uint(3, "output_port", &S::output_port),
      s::Uint(4, "pending_command", &S::pending_command),
      s::Uint(5, "keyboard_pending", &S::keyboard_pending),
      s::Uint(6, "aux_pending", &S::aux_pending),
      s::Uint(7, "keyboard_scanning", &S::keyboard_scanning),
      s::Uint(8, "aux_streaming", &S::aux_streaming),
      // The output queue as two byte strings of one length: the bytes, then 1 per aux byte.
      s::Computed(
          9, "output",
          [](const S& st) {
            std::string bytes;
            for (const auto& [byte, aux] : st.output) bytes.push_back(static_cast<char>(byte));
            return bytes;
          },
          [](S& st, absl::string_view bytes) -> std::optional<s::Invalid> {
            if (bytes.size() > i8042::kMaxQueued) {
              return s::Invalid{"output", absl::StrCat(bytes.size(), " bytes queued, more than ",
                                                       i8042::kMaxQueued)};
            }
            for (char byte : bytes) st.output.emplace_back(static_cast<uint8_t>(byte), false);
            return std::nullopt;
          }),
      s::Computed(
          10, "output_is_aux",
          [](const S& st) {
            std::string flags;
            for (const auto& [byte, aux] : st.output) flags.push_back(aux ? 1 : 0);
            return flags;
          },
          [](S& st, absl::string_view flags) -> std::optional<s::Invalid> {
            if (flags.size() != st.output.size()) {
              return s::Invalid{"output_is_aux", absl::StrCat(flags.size(), " flags for ",
                                                              st.output.size(), " output bytes")};
            }
            for (size_t i = 0; i < flags.size(); ++i) st.output[i].second = flags[i] != 0;
            return std::nullopt;
          }),
      s::Uint(11, "irq_level", &S::irq_level), s::Uint(12, "aux_irq_level", &S::aux_irq_level),
      s::Uint(13, "reset_requests", &S::reset_requests));
}

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICES_I8042_H_
