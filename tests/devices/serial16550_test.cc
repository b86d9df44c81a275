#include "dbs_device/devices/serial16550.h"

#include <memory>
#include <string>
#include <vector>

#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

using namespace serial16550;  // NOLINT
using ::testing::ElementsAre;

class Serial16550Test : public ::testing::Test {
 protected:
  uint8_t Read(uint8_t reg) { return uart_.ReadRegister(reg); }
  void Write(uint8_t reg, uint8_t value) { uart_.WriteRegister(reg, value); }
  void Input(std::vector<uint8_t> bytes) { uart_.EnqueueInput(bytes); }

  std::vector<uint8_t> out_;
  std::vector<bool> irq_changes_;
  Serial16550 uart_{[this](uint8_t b) { out_.push_back(b); },
                    [this](bool level) { irq_changes_.push_back(level); }};
};

TEST_F(Serial16550Test, ResetStateMatchesThePcAfterPowerOn) {
  EXPECT_EQ(Read(kIer), 0);
  EXPECT_EQ(Read(kIir), kIirNoInt);
  EXPECT_EQ(Read(kLcr), 0);
  EXPECT_EQ(Read(kMcr), kMcrOut2);
  EXPECT_EQ(Read(kLsr), kLsrThre | kLsrTemt);
  EXPECT_EQ(Read(kMsr), kMsrDcd | kMsrDsr | kMsrCts);
  EXPECT_FALSE(uart_.state().irq_level);
}

TEST_F(Serial16550Test, TransmitsToTheOutputAndStaysEmpty) {
  for (char c : std::string("hi")) Write(kThr, static_cast<uint8_t>(c));
  EXPECT_THAT(out_, ElementsAre('h', 'i'));
  EXPECT_EQ(Read(kLsr), kLsrThre | kLsrTemt);
}

TEST_F(Serial16550Test, DivisorLatchIsSelectedByDlab) {
  Write(kLcr, kLcrDlab | 0x03);
  Write(kDll, 0x01);
  Write(kDlm, 0x02);
  EXPECT_EQ(Read(kDll), 0x01);
  EXPECT_EQ(Read(kDlm), 0x02);
  EXPECT_EQ(uart_.state().divisor, 0x0201);
  EXPECT_TRUE(out_.empty()) << "a DLL write is not a transmission";
  EXPECT_EQ(Read(kIer), 0x02) << "DLM, not IER";
  Write(kLcr, 0x03);
  EXPECT_EQ(Read(kIer), 0);
  Write(kThr, 'x');
  EXPECT_THAT(out_, ElementsAre('x'));
}

TEST_F(Serial16550Test, ScratchRegisterHoldsAnyValue) {
  for (int v : {0x00, 0xa5, 0x5a, 0xff}) {
    Write(kScr, static_cast<uint8_t>(v));
    EXPECT_EQ(Read(kScr), v);
  }
}

TEST_F(Serial16550Test, LoopbackWiresTransmitterToReceiverAndMcrToMsr) {
  Write(kMcr, kMcrLoop | kMcrOut2 | kMcrRts);  // what Linux's autoconfig writes (0x1a)
  EXPECT_EQ(Read(kMsr) & 0xf0, kMsrDcd | kMsrCts);
  Write(kMcr, kMcrLoop | kMcrOut1 | kMcrDtr);
  EXPECT_EQ(Read(kMsr) & 0xf0, kMsrRi | kMsrDsr);
  Write(kThr, 0x42);
  EXPECT_TRUE(out_.empty()) << "loopback output does not reach the line";
  EXPECT_TRUE(Read(kLsr) & kLsrDr);
  EXPECT_EQ(Read(kRbr), 0x42);
  EXPECT_EQ(uart_.EnqueueInput(std::vector<uint8_t>{1, 2}), 0u) << "line input is cut off";
  Write(kMcr, kMcrOut2);
  EXPECT_EQ(Read(kMsr), kMsrDcd | kMsrDsr | kMsrCts);
}

// Linux's 8250 autoconfig, step by step, must conclude "16550A".
TEST_F(Serial16550Test, LinuxAutoconfigFindsA16550A) {
  // Scratch test.
  Write(kScr, 0xa5);
  ASSERT_EQ(Read(kScr), 0xa5);
  Write(kScr, 0x5a);
  ASSERT_EQ(Read(kScr), 0x5a);
  // IER test: the upper nibble is not writable.
  Write(kIer, 0x00);
  ASSERT_EQ(Read(kIer) & 0x0f, 0x00);
  Write(kIer, 0x0f);
  ASSERT_EQ(Read(kIer) & 0x0f, 0x0f);
  Write(kIer, 0x00);
  // Loopback test: MCR 0x1a gives MSR 0x90 in the top nibble.
  const uint8_t saved_mcr = Read(kMcr);
  Write(kMcr, kMcrLoop | 0x0a);
  ASSERT_EQ(Read(kMsr) & 0xf0, 0x90);
  Write(kMcr, saved_mcr);
  // FIFO test: enable FIFOs and read IIR's top bits.
  Write(kFcr, kFcrEnable);
  const uint8_t iir = Read(kIir);
  ASSERT_EQ(iir >> 6, 3) << "bits 6-7 both set: a 16550A (one bit would be a buggy 16550)";
  // A 16550A has no EFR: with LCR=0xbf, register 2 is still FCR/IIR.
  Write(kLcr, 0xbf);
  Write(kFcr, 0);
  Write(kLcr, 0);
  Write(kFcr, kFcrEnable);
  EXPECT_EQ(Read(kIir) & kIirFifos, kIirFifos);
}

TEST_F(Serial16550Test, ReceiveFifoHoldsSixteenBytesThenOverruns) {
  Write(kFcr, kFcrEnable | kFcrClearRx | kFcrClearTx);
  std::vector<uint8_t> bytes(kFifoSize);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(uart_.EnqueueInput(bytes), kFifoSize);
  EXPECT_EQ(uart_.InputSpace(), 0u);
  EXPECT_EQ(uart_.EnqueueInput(std::vector<uint8_t>{0xee}), 0u);
  const uint8_t lsr = Read(kLsr);
  EXPECT_TRUE(lsr & kLsrOe);
  EXPECT_TRUE(lsr & kLsrDr);
  EXPECT_FALSE(Read(kLsr) & kLsrOe) << "reading LSR clears OE";
  for (size_t i = 0; i < kFifoSize; ++i) EXPECT_EQ(Read(kRbr), i);
  EXPECT_FALSE(Read(kLsr) & kLsrDr);
  EXPECT_EQ(uart_.state().rx_count, 0);
}

TEST_F(Serial16550Test, WithoutFifosASecondByteOverwritesAndOverruns) {
  Input({1});
  Input({2});
  EXPECT_TRUE(Read(kLsr) & kLsrOe);
  EXPECT_EQ(Read(kRbr), 2);
}

TEST_F(Serial16550Test, ThreInterruptSetAndClearRules) {
  Write(kMcr, kMcrOut2);
  Write(kIer, kIerThri);  // THR is empty: enabling THRI raises it
  EXPECT_EQ(Read(kIir) & kIirIdMask, kIirThri);
  EXPECT_EQ(Read(kIir), kIirNoInt) << "reading IIR acknowledged THRE";
  Write(kThr, 'a');  // THR empties again at once: raised again
  EXPECT_TRUE(uart_.state().irq_level);
  EXPECT_EQ(Read(kIir) & kIirIdMask, kIirThri);
  Write(kIer, 0);
  Write(kIer, kIerThri);
  EXPECT_EQ(Read(kIir) & kIirIdMask, kIirThri);
  Write(kIer, 0);
  EXPECT_FALSE(uart_.state().irq_level);
}

TEST_F(Serial16550Test, InterruptPrioritiesFollowTheDatasheet) {
  Write(kFcr, kFcrEnable);  // trigger level 1
  Write(kIer, kIerRdi | kIerThri | kIerRlsi | kIerMsi);
  // THRE alone.
  EXPECT_EQ(Read(kIir) & kIirIdMask, kIirThri);
  // Data beats THRE.
  Write(kIer, 0);
  Write(kIer, kIerRdi | kIerThri | kIerRlsi | kIerMsi);
  Input({'x'});
  EXPECT_EQ(Read(kIir) & kIirIdMask, kIirRdi);
  // Line status beats data: overrun the FIFO.
  Input(std::vector<uint8_t>(kFifoSize, 'y'));
  EXPECT_EQ(Read(kIir) & kIirIdMask, kIirRlsi);
  Read(kLsr);  // clears OE
  EXPECT_EQ(Read(kIir) & kIirIdMask, kIirRdi);
  while (Read(kLsr) & kLsrDr) Read(kRbr);
  EXPECT_EQ(Read(kIir) & kIirIdMask, kIirThri);
  EXPECT_EQ(Read(kIir), kIirFifos | kIirNoInt);
  EXPECT_FALSE(uart_.state().irq_level);
}

TEST_F(Serial16550Test, DataBelowTheTriggerLevelIsAnnouncedAsATimeout) {
  Write(kFcr, kFcrEnable | 0xc0);  // trigger at 14
  Write(kIer, kIerRdi);
  Input({1, 2, 3});
  EXPECT_EQ(Read(kIir) & 0x0f, kIirCti);
  Read(kRbr);
  EXPECT_EQ(Read(kIir) & 0x0f, kIirNoInt) << "a read restarts the timeout";
}

TEST_F(Serial16550Test, IrqLineReportsEveryChangeOnce) {
  Write(kIer, kIerRdi);
  Input({1});
  Read(kRbr);
  EXPECT_THAT(irq_changes_, ElementsAre(true, false));
}

TEST_F(Serial16550Test, EveryOffsetAndWidthLeavesTheDeviceWorking) {
  Write(kFcr, kFcrEnable);
  for (uint64_t offset = 0; offset < 16; ++offset) {
    for (size_t len : {1, 2, 4, 8}) {
      std::vector<uint8_t> data(len, 0xff);
      uart_.PioWrite(PioAddress{0x3f8}, PioAddress{static_cast<uint16_t>(offset)}, data);
      uart_.PioRead(PioAddress{0x3f8}, PioAddress{static_cast<uint16_t>(offset)},
                    absl::MakeSpan(data));
      uart_.Write(IoAddress{0}, IoAddress{~uint64_t{0} - offset}, data);
      uart_.Read(IoAddress{0}, IoAddress{~uint64_t{0} - offset}, absl::MakeSpan(data));
      const Serial16550State& s = uart_.state();
      ASSERT_LE(s.rx_count, kFifoSize);
      ASSERT_LT(s.rx_head, kFifoSize);
      ASSERT_EQ(s.irq_level, (s.iir & 0x01) == 0) << "IRQ line consistent with IIR";
    }
  }
  // Still a working UART.
  Write(kLcr, 0x03);
  Write(kMcr, kMcrOut2);
  out_.clear();
  Write(kThr, 'o');
  EXPECT_THAT(out_, ElementsAre('o'));
  EXPECT_TRUE(Read(kLsr) & kLsrThre);
}

TEST(Serial16550DeviceManagerTest, PlacedAtCom1WithIrq4) {
  ResourceManager resources = ResourceManager::X86Defaults();
  IoManager io;
  DeviceManager devices(resources, io);
  std::string out;
  auto uart = std::make_shared<ManagedDevice<Serial16550>>("ttyS0", Serial16550::Constraints(),
                                                           [&](uint8_t b) { out.push_back(b); });
  ASSERT_OK(devices.AddDevice(uart).status());
  EXPECT_THAT(uart->GetAssignedResources().PioRanges(), ElementsAre(PioRange{0x3f8, 8}));
  EXPECT_EQ(uart->GetAssignedResources().LegacyIrq(), 4u);
  for (char c : std::string("ok")) {
    const uint8_t b = static_cast<uint8_t>(c);
    ASSERT_OK(io.PioWrite(0x3f8, absl::MakeConstSpan(&b, 1)));
  }
  EXPECT_EQ(out, "ok");
  uint8_t lsr = 0;
  ASSERT_OK(io.PioRead(0x3fd, absl::MakeSpan(&lsr, 1)));
  EXPECT_EQ(lsr, 0x60);
  uart->WithLock([](Serial16550& s) { s.EnqueueInput(std::vector<uint8_t>{'z'}); });
  ASSERT_OK(io.PioRead(0x3f8, absl::MakeSpan(&lsr, 1)));
  EXPECT_EQ(lsr, 'z');
}

}  // namespace
}  // namespace dbs
