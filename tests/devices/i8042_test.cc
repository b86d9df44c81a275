#include "dbs_device/devices/i8042.h"

#include <memory>
#include <vector>

#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

using namespace i8042;  // NOLINT
using ::testing::ElementsAre;

class I8042Test : public ::testing::Test {
 protected:
  uint8_t Status() { return kbc_.ReadPort(true); }
  uint8_t Data() { return kbc_.ReadPort(false); }
  void Command(uint8_t c) { kbc_.WritePort(true, c); }
  void Send(uint8_t d) { kbc_.WritePort(false, d); }
  std::vector<uint8_t> Drain() {
    std::vector<uint8_t> out;
    while (Status() & kStatusOutputFull) out.push_back(Data());
    return out;
  }

  int resets_ = 0;
  std::vector<bool> irq_;
  I8042 kbc_{[this] { ++resets_; }, [this](bool level) { irq_.push_back(level); }};
};

TEST_F(I8042Test, StateAfterPost) {
  EXPECT_EQ(Status(), 0x1c);
  Command(kCmdReadConfig);
  EXPECT_EQ(Status(), 0x1d);
  EXPECT_EQ(Data(), 0x61);
  EXPECT_EQ(Status(), 0x1c);
}

TEST_F(I8042Test, ConfigurationByteWriteAndRead) {
  Command(kCmdWriteConfig);
  Send(0x47);
  Command(kCmdReadConfig);
  EXPECT_EQ(Data(), 0x47);
  Command(kCmdDisableKeyboard);
  Command(kCmdDisableAux);
  Command(kCmdReadConfig);
  EXPECT_EQ(Data(), 0x47 | kConfigKeyboardDisabled | kConfigAuxDisabled);
  Command(kCmdEnableKeyboard);
  Command(kCmdEnableAux);
  Command(kCmdReadConfig);
  EXPECT_EQ(Data(), 0x47);
}

TEST_F(I8042Test, SelfTestAndInterfaceTests) {
  Command(kCmdSelfTest);
  EXPECT_THAT(Drain(), ElementsAre(kSelfTestPassed));
  Command(kCmdTestKeyboard);
  Command(kCmdTestAux);
  EXPECT_THAT(Drain(), ElementsAre(0x00, 0x00));
  EXPECT_TRUE(Status() & kStatusSystem);
}

TEST_F(I8042Test, KeyboardAnswersLinuxProbe) {
  Send(0xf2);  // identify, with translation on
  EXPECT_THAT(Drain(), ElementsAre(kAck, 0xab, 0x41));
  Command(kCmdWriteConfig);
  Send(0x01);  // translation off
  Send(0xf2);
  EXPECT_THAT(Drain(), ElementsAre(kAck, 0xab, 0x83));
  Send(0xed);  // LEDs, then their argument
  Send(0x07);
  Send(0xff);  // reset
  EXPECT_THAT(Drain(), ElementsAre(kAck, kAck, kAck, kBatPassed));
}

TEST_F(I8042Test, AuxLoopbackAndMouseThroughD4) {
  Command(kCmdWriteAuxBuffer);
  Send(0x5a);
  EXPECT_EQ(Status(), 0x3d) << "aux data in the output buffer";
  EXPECT_EQ(Data(), 0x5a);
  Command(kCmdWriteAux);
  Send(0xf2);  // mouse: get ID
  EXPECT_THAT(Drain(), ElementsAre(kAck, 0x00));
}

TEST_F(I8042Test, ResetRequestThroughCommandPulseAndOutputPort) {
  Command(kCmdReset);
  EXPECT_EQ(resets_, 1);
  Command(0xfd);  // pulse line 1 only: no reset
  EXPECT_EQ(resets_, 1);
  Command(kCmdWriteOutputPort);
  Send(0x02);  // reset line low
  EXPECT_EQ(resets_, 2);
  EXPECT_EQ(kbc_.state().reset_requests, 2u);
}

TEST_F(I8042Test, KeyboardInterruptFollowsTheOutputBuffer) {
  kbc_.EnqueueScancodes(std::vector<uint8_t>{0x1e, 0x9e});
  EXPECT_THAT(Drain(), ElementsAre(0x1e, 0x9e));
  EXPECT_THAT(irq_, ElementsAre(true, false));
}

TEST_F(I8042Test, EveryOffsetAndWidthLeavesTheDeviceWorking) {
  for (uint16_t offset = 0; offset < 8; ++offset) {
    for (size_t len : {1, 2, 4, 8}) {
      std::vector<uint8_t> data(len, 0x5a);
      kbc_.PioWrite(PioAddress{0x60}, PioAddress{offset}, data);
      kbc_.PioRead(PioAddress{0x60}, PioAddress{offset}, absl::MakeSpan(data));
      ASSERT_LE(kbc_.state().output.size(), 64u);
    }
  }
  Drain();
  Command(kCmdWriteConfig);
  Send(0x61);
  Command(kCmdReadConfig);
  EXPECT_THAT(Drain(), ElementsAre(0x61));
}

TEST(I8042DeviceManagerTest, PlacedAtPorts60And64) {
  ResourceManager resources = ResourceManager::X86Defaults();
  IoManager io;
  DeviceManager devices(resources, io);
  int resets = 0;
  auto kbc =
      std::make_shared<ManagedDevice<I8042>>("i8042", I8042::Constraints(), [&] { ++resets; });
  ASSERT_OK(devices.AddDevice(kbc).status());
  EXPECT_THAT(kbc->GetAssignedResources().PioRanges(),
              ElementsAre(PioRange{0x60, 1}, PioRange{0x64, 1}));
  const uint8_t reset = kCmdReset;
  ASSERT_OK(io.PioWrite(0x64, absl::MakeConstSpan(&reset, 1)));
  EXPECT_EQ(resets, 1);
}

}  // namespace
}  // namespace dbs
