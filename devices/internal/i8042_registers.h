// devices/internal/i8042_registers.h — the i8042's ports, IRQs, status and
// configuration bits, controller commands and replies, named as in its datasheet.

#ifndef DBS_DEVICE_DEVICES_INTERNAL_I8042_REGISTERS_H_
#define DBS_DEVICE_DEVICES_INTERNAL_I8042_REGISTERS_H_

#include <cstddef>
#include <cstdint>

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

// Bytes the controller queues for port 0x60 at most (a real one buffers far less).
inline constexpr size_t kMaxQueued = 64;

}  // namespace i8042

}  // namespace dbs

#endif  // DBS_DEVICE_DEVICES_INTERNAL_I8042_REGISTERS_H_
