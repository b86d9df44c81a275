// Each device restored from its state answers every access like the original: random access
// sequences, cut at a random step, continued on the original and on a twin restored from its
// state() with a fresh outside world; every answer, every output byte, the interrupt lines,
// reset requests and the final state must agree. Every state reached on the way must also
// come back unchanged from Encode and Decode, the form a snapshot stores it in.
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>

#include "absl/time/time.h"
#include "dbs_device/devices/cmos_rtc.h"
#include "dbs_device/devices/dummy.h"
#include "dbs_device/devices/i8042.h"
#include "dbs_device/devices/serial16550.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

// Plays `steps` random operations on a Rig; at a random step, restores a twin from the
// original's state and from then on plays every operation on both. A Rig has
//   Rig()                              a fresh device and its recorded outside world
//   std::unique_ptr<Rig> Restore()     a twin restored from the device's state; the twin's
//                                      recorders start as copies of the original's
//   uint64_t Step(uint64_t op)         one operation; what a read answered
//   auto Observed()                    what the outside world saw so far
//   auto State()                       the device's state
template <typename Rig>
void ExpectATwinRestoredAnywhereBehavesTheSame(int runs) {
  for (int run = 0; run < runs; ++run) {
    std::mt19937_64 rng(run);
    constexpr int kSteps = 300;
    const int cut = static_cast<int>(rng() % kSteps);
    Rig original;
    std::unique_ptr<Rig> twin;
    for (int i = 0; i < kSteps; ++i) {
      if (i == cut) {
        twin = original.Restore();
        ASSERT_EQ(twin->State(), original.State()) << "run " << run;
        ASSERT_EQ(twin->Observed(), original.Observed()) << "run " << run << ": lines at restore";
      }
      // Every state reached survives the snapshot codec unchanged.
      using State = std::remove_cvref_t<decltype(original.State())>;
      const absl::StatusOr<State> decoded = State::Decode(original.State().Encode());
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      ASSERT_EQ(*decoded, original.State()) << "run " << run << ", step " << i << ": the codec";
      const uint64_t op = rng();
      const uint64_t answer = original.Step(op);
      if (twin == nullptr) continue;
      ASSERT_EQ(twin->Step(op), answer)
          << "run " << run << ", step " << i << " (cut " << cut << ")";
      ASSERT_EQ(twin->Observed(), original.Observed()) << "run " << run << ", step " << i;
    }
    EXPECT_EQ(twin->State(), original.State()) << "run " << run;
  }
}

// --- 16550A ------------------------------------------------------------------------------

struct SerialRig {
  SerialRig() : device(std::make_unique<Serial16550>(Output(), Irq())) {}
  explicit SerialRig(const SerialRig& from)
      : output(from.output),
        device(std::make_unique<Serial16550>(from.device->state(), Output(), Irq())) {}
  std::unique_ptr<SerialRig> Restore() const { return std::make_unique<SerialRig>(*this); }

  uint64_t Step(uint64_t op) {
    const uint8_t value = static_cast<uint8_t>(op >> 8);
    const uint8_t offset = static_cast<uint8_t>((op >> 16) % 9);  // 8 is past the registers
    switch (op % 4) {
      case 0:
        return device->ReadRegister(offset);
      case 1:
        device->WriteRegister(offset, value);
        return 0;
      case 2: {
        const uint8_t bytes[] = {value, static_cast<uint8_t>(value + 1)};
        return device->EnqueueInput(absl::MakeConstSpan(bytes, 1 + (op >> 24) % 2));
      }
      default:
        // Registers that matter most, written with values that turn features on.
        device->WriteRegister(op % 3 == 0 ? 2 : (op % 3 == 1 ? 1 : 4), value | 0x01);
        return 0;
    }
  }
  std::tuple<std::string, bool> Observed() const { return {output, irq}; }
  const Serial16550State& State() const { return device->state(); }

  std::function<void(uint8_t)> Output() {
    return [this](uint8_t b) { output.push_back(static_cast<char>(b)); };
  }
  std::function<void(bool)> Irq() {
    return [this](bool level) { irq = level; };
  }

  std::string output;
  bool irq = false;
  std::unique_ptr<Serial16550> device;
};

TEST(DeviceRestoreTest, Serial16550TwinAnswersAndInterruptsAsTheOriginal) {
  ExpectATwinRestoredAnywhereBehavesTheSame<SerialRig>(200);
}

TEST(DeviceRestoreTest, Serial16550KeepsPendingFifoBytesAndRaisesItsLineAgain) {
  SerialRig original;
  original.device->WriteRegister(serial16550::kFcr, serial16550::kFcrEnable);
  original.device->WriteRegister(serial16550::kIer, serial16550::kIerRdi);
  const uint8_t input[] = {'o', 'k', '!'};
  ASSERT_EQ(original.device->EnqueueInput(input), 3u);
  ASSERT_TRUE(original.irq);
  std::unique_ptr<SerialRig> twin = original.Restore();
  twin->irq = false;  // a fresh outside world: the line must be raised again
  twin = twin->Restore();
  EXPECT_TRUE(twin->irq);
  EXPECT_EQ(twin->device->ReadRegister(serial16550::kRbr), 'o');
  EXPECT_EQ(twin->device->ReadRegister(serial16550::kRbr), 'k');
  EXPECT_EQ(twin->device->ReadRegister(serial16550::kRbr), '!');
  EXPECT_FALSE(twin->irq);
}

// --- i8042 -------------------------------------------------------------------------------

struct I8042Rig {
  I8042Rig() : device(std::make_unique<I8042>(Reset(), Irq(&irq), Irq(&aux_irq))) {}
  explicit I8042Rig(const I8042Rig& from)
      : resets(from.resets),
        device(std::make_unique<I8042>(from.device->state(), Reset(), Irq(&irq), Irq(&aux_irq))) {}
  std::unique_ptr<I8042Rig> Restore() const { return std::make_unique<I8042Rig>(*this); }

  uint64_t Step(uint64_t op) {
    // Commands Linux sends, and any byte.
    static constexpr uint8_t kCommands[] = {0x20, 0x60, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xad,
                                            0xae, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xf4, 0xff};
    const uint8_t value =
        (op >> 8) % 2 ? kCommands[(op >> 12) % 16] : static_cast<uint8_t>(op >> 16);
    switch (op % 4) {
      case 0:
        return device->ReadPort(/*command_port=*/false);
      case 1:
        return device->ReadPort(/*command_port=*/true);
      case 2:
        device->WritePort((op >> 4) % 2 == 0, value);
        return 0;
      default: {
        const uint8_t codes[] = {value};
        device->EnqueueScancodes(codes);
        return 0;
      }
    }
  }
  std::tuple<bool, bool, int> Observed() const { return {irq, aux_irq, resets}; }
  const I8042State& State() const { return device->state(); }

  std::function<void()> Reset() {
    return [this] { ++resets; };
  }
  static std::function<void(bool)> Irq(bool* line) {
    return [line](bool level) { *line = level; };
  }

  bool irq = false;
  bool aux_irq = false;
  int resets = 0;
  std::unique_ptr<I8042> device;
};

TEST(DeviceRestoreTest, I8042TwinAnswersAndInterruptsAsTheOriginal) {
  ExpectATwinRestoredAnywhereBehavesTheSame<I8042Rig>(200);
}

// --- CMOS RTC ------------------------------------------------------------------------------

struct RtcRig {
  RtcRig() : device(std::make_unique<CmosRtc>(Clock())) {}
  explicit RtcRig(const RtcRig& from)
      : now(from.now), device(std::make_unique<CmosRtc>(from.device->state(), Clock())) {}
  std::unique_ptr<RtcRig> Restore() const { return std::make_unique<RtcRig>(*this); }

  uint64_t Step(uint64_t op) {
    const uint8_t value = static_cast<uint8_t>(op >> 8);
    switch (op % 5) {
      case 0:  // select a register: the clock's first 14 mostly, with or without NMI masked
        device->WritePort(0, (op >> 16) % 4 ? (op >> 20) % 14 | (value & 0x80) : value);
        return 0;
      case 1:
      case 2:
        return device->ReadPort(1);
      case 3:
        device->WritePort(1, value);
        return 0;
      default:
        now += absl::Milliseconds((op >> 8) % 1500);
        return 0;
    }
  }
  absl::Time Observed() const { return now; }
  const CmosRtcState& State() const { return device->state(); }

  std::function<absl::Time()> Clock() {
    return [this] { return now; };
  }

  absl::Time now = absl::FromUnixSeconds(1764892800);  // 2025-12-05 00:00:00 UTC
  std::unique_ptr<CmosRtc> device;
};

TEST(DeviceRestoreTest, CmosRtcTwinAnswersAsTheOriginal) {
  ExpectATwinRestoredAnywhereBehavesTheSame<RtcRig>(200);
}

TEST(DeviceRestoreTest, CmosRtcKeepsTheGuestOffsetFromTheHostClock) {
  absl::Time host = absl::FromUnixSeconds(1764892800);
  CmosRtc original([&host] { return host; });
  // The guest sets the clock an hour ahead (SET held while writing the hours).
  original.WritePort(0, cmos_rtc::kRegB);
  original.WritePort(1, original.ReadPort(1) | cmos_rtc::kRegBSet);
  original.WritePort(0, 0x04);
  const uint8_t hours = original.ReadPort(1);
  original.WritePort(1, hours + 1);
  original.WritePort(0, cmos_rtc::kRegB);
  original.WritePort(1, original.ReadPort(1) & ~cmos_rtc::kRegBSet);
  const absl::Duration offset = original.GuestTime() - host;
  // Restored a day later, on a host clock that moved on.
  absl::Time later = host + absl::Hours(24);
  CmosRtc restored(original.state(), [&later] { return later; });
  EXPECT_EQ(restored.GuestTime() - later, offset);
}

// --- Dummy -------------------------------------------------------------------------------

struct DummyRig {
  static uint8_t Pattern(uint64_t offset) { return static_cast<uint8_t>(offset * 7); }
  DummyRig() : device(std::make_unique<DummyDevice>(Pattern, /*record=*/true)) {}
  explicit DummyRig(const DummyRig& from)
      : device(std::make_unique<DummyDevice>(from.device->state(), Pattern)) {}
  std::unique_ptr<DummyRig> Restore() const { return std::make_unique<DummyRig>(*this); }

  uint64_t Step(uint64_t op) {
    uint8_t data[4] = {static_cast<uint8_t>(op >> 8), 0, 0, 0};
    const auto span = absl::MakeSpan(data, 1 + (op >> 4) % 4);
    const uint64_t offset = (op >> 16) % 64;
    switch (op % 4) {
      case 0:
        device->Read(IoAddress{0x1000}, IoAddress{offset}, span);
        break;
      case 1:
        device->Write(IoAddress{0x1000}, IoAddress{offset}, span);
        break;
      case 2:
        device->PioRead(PioAddress{0x60}, PioAddress{static_cast<uint16_t>(offset)}, span);
        break;
      default:
        device->PioWrite(PioAddress{0x60}, PioAddress{static_cast<uint16_t>(offset)}, span);
    }
    return data[0] | uint64_t{data[span.size() - 1]} << 8;
  }
  int Observed() const { return 0; }
  const DummyDeviceState& State() const { return device->state(); }

  std::unique_ptr<DummyDevice> device;
};

TEST(DeviceRestoreTest, DummyTwinCountsAndRecordsAsTheOriginal) {
  ExpectATwinRestoredAnywhereBehavesTheSame<DummyRig>(50);
}

}  // namespace
}  // namespace dbs
