// Snapshots across versions: a reader skips the fields a later version added, a later
// reader sees today's snapshot with its new fields at their defaults, and a device state
// lacking fields (written before they existed) restores them to power-on values.

#include <memory>
#include <string>

#include "dbs_device/devices/dummy.h"
#include "dbs_device/devices/serial16550.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/manager/snapshot.h"
#include "dbs_device/tests/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/manager/next_version.pb.h"

namespace dbs {
namespace {

// A snapshot of today's version: a UART with a byte pending and a dummy device.
std::string TodaysSnapshot() {
  ResourceManager resources = ResourceManager::X86Defaults();
  IoManager io;
  DeviceManager devices(resources, io);
  auto uart = std::make_shared<ManagedDevice<Serial16550>>("ttyS0", Serial16550::Constraints(),
                                                           [](uint8_t) {});
  EXPECT_OK(devices.AddDevice(uart).status());
  uart->WithLock([](Serial16550& d) { d.EnqueueInput(std::vector<uint8_t>{'x'}); });
  EXPECT_OK(devices
                .AddDevice(std::make_shared<ManagedDevice<DummyDevice>>(
                    "dummy", std::vector<ResourceConstraint>{MmioConstraint{0x1000}}))
                .status());
  absl::StatusOr<std::string> bytes = devices.Snapshot();
  EXPECT_OK(bytes.status());
  return *bytes;
}

TEST(SnapshotCompatTest, ALaterReaderSeesTodaysSnapshotWithItsNewFieldsAtDefaults) {
  const std::string bytes = TodaysSnapshot();
  absl::StatusOr<absl::string_view> payload = UnsealSnapshot(bytes, kDeviceManagerPayload);
  ASSERT_OK(payload.status());
  compat::NextDeviceManagerSnapshot next;
  ASSERT_TRUE(next.ParseFromArray(payload->data(), static_cast<int>(payload->size())));
  EXPECT_EQ(next.vm_name(), "");
  EXPECT_EQ(next.next_id(), 3u);
  ASSERT_EQ(next.devices_size(), 2);
  EXPECT_EQ(next.devices(0).name(), "ttyS0");
  EXPECT_EQ(next.devices(0).kind(), "serial16550");
  EXPECT_EQ(next.devices(0).numa_node(), 0u);
  EXPECT_EQ(next.devices(1).allocated_size(), 1);
  EXPECT_EQ(next.devices(1).allocated(0).mmio().size(), 0x1000u);
  compat::NextSerial16550State uart;
  ASSERT_TRUE(uart.ParseFromString(next.devices(0).state()));
  EXPECT_FALSE(uart.has_tx_fifo_level());
  EXPECT_EQ(uart.rbr(), uint32_t{'x'});  // FIFOs off: the byte waits in RBR
}

TEST(SnapshotCompatTest, TodaysReaderSkipsTheFieldsALaterVersionAdded) {
  const std::string bytes = TodaysSnapshot();
  absl::StatusOr<DeviceManagerSnapshot> today = DecodeDeviceManagerSnapshot(bytes);
  ASSERT_OK(today.status());

  // The same snapshot as the next version writes it, with its new fields set.
  compat::NextDeviceManagerSnapshot next;
  absl::string_view payload = *UnsealSnapshot(bytes, kDeviceManagerPayload);
  ASSERT_TRUE(next.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
  next.set_vm_name("vm-42");
  for (compat::NextDevice& d : *next.mutable_devices()) d.set_numa_node(1);
  compat::NextSerial16550State uart;
  ASSERT_TRUE(uart.ParseFromString(next.devices(0).state()));
  uart.set_tx_fifo_level(5);
  next.mutable_devices(0)->set_state(uart.SerializeAsString());
  const std::string from_next = SealSnapshot(kDeviceManagerPayload, next.SerializeAsString());

  absl::StatusOr<DeviceManagerSnapshot> read = DecodeDeviceManagerSnapshot(from_next);
  ASSERT_OK(read.status());
  EXPECT_EQ(read->next_id, today->next_id);
  ASSERT_EQ(read->devices.size(), today->devices.size());
  for (size_t i = 0; i < read->devices.size(); ++i) {
    EXPECT_EQ(read->devices[i].allocated, today->devices[i].allocated);
    EXPECT_EQ(read->devices[i].registered, today->devices[i].registered);
  }
  EXPECT_TRUE(*Serial16550State::Decode(read->devices[0].state) ==
              *Serial16550State::Decode(today->devices[0].state));

  // And it restores.
  ResourceManager resources = ResourceManager::X86Defaults();
  IoManager io;
  DeviceManager devices(resources, io);
  DeviceFactory factory;
  ASSERT_OK(factory.Register(Serial16550::kKind, RestoreManaged<Serial16550>([](uint8_t) {})));
  ASSERT_OK(factory.Register(DummyDevice::kKind, RestoreManaged<DummyDevice>()));
  ASSERT_OK(devices.Restore(from_next, factory));
  uint8_t byte = 0;
  ASSERT_OK(io.PioRead(serial16550::kCom1, absl::MakeSpan(&byte, 1)));
  EXPECT_EQ(byte, 'x');
}

TEST(SnapshotCompatTest, FieldsAnOlderStateLacksRestoreToPowerOnValues) {
  compat::OlderSerial16550State older;
  older.set_ier(0x0f);
  older.set_lcr(0x03);
  older.set_scr(0x5a);
  absl::StatusOr<Serial16550State> state = Serial16550State::Decode(older.SerializeAsString());
  ASSERT_OK(state.status());
  Serial16550State want;  // power-on values...
  want.ier = 0x0f;        // ...but for what the older state had
  want.lcr = 0x03;
  want.scr = 0x5a;
  EXPECT_TRUE(*state == want);
  EXPECT_EQ(state->mcr, serial16550::kMcrOut2) << "a missing field is its power-on value, not 0";
  EXPECT_EQ(state->divisor, 0x0c);
}

TEST(SnapshotCompatTest, EveryDeviceStateSurvivesEncodeAndDecode) {
  Serial16550State uart;
  uart.rx_fifo[3] = 0x41;
  uart.rx_head = 3;
  uart.rx_count = 1;
  uart.irq_level = true;
  EXPECT_TRUE(*Serial16550State::Decode(uart.Encode()) == uart);
  DummyDeviceState dummy;
  dummy.record = true;
  dummy.counts.pio_writes = 7;
  dummy.accesses.push_back({DummyAccess::kPioWrite, 0x600, 2, {1, 2}});
  EXPECT_TRUE(*DummyDeviceState::Decode(dummy.Encode()) == dummy);
  EXPECT_THAT(DummyDeviceState::Decode("\x3a\x02\x08\x09"),
              ::dbs::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                       ::testing::HasSubstr("accesses.kind")));
}

}  // namespace
}  // namespace dbs
