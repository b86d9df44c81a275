// Snapshots across versions: a reader skips the fields a later version added, a later
// reader sees today's snapshot with its new fields at their defaults, and a device state
// lacking fields (written before they existed) restores them to power-on values.

#include <limits>
#include <memory>
#include <random>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "dbs_device/devices/cmos_rtc.h"
#include "dbs_device/devices/dummy.h"
#include "dbs_device/devices/i8042.h"
#include "dbs_device/devices/serial16550.h"
#include "dbs_device/manager/device_manager.h"
#include "dbs_device/manager/managed_device.h"
#include "dbs_device/manager/snapshot.h"
#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/manager/next_version.pb.h"
#include "tests/manager/oracle/device_states.pb.h"
#include "tests/manager/oracle/snapshot.pb.h"

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

// --- The library's tables against the .proto oracle ---------------------------------------
//
// The library writes snapshots through its own tables (base/schema.h); these tests build the
// same messages through protobuf's generated classes from the .proto files the format was
// first defined by (tests/manager/oracle/), and require the same bytes.

// Random states: every field set, sometimes to zero (a zero must still be written).
template <typename T>
T Pick(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
      return T{};
    case 1:
      return static_cast<T>(std::numeric_limits<T>::max());
    default:
      return static_cast<T>(rng());
  }
}

TEST(SnapshotOracleTest, DeviceStatesAreTheBytesProtobufWrites) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    SCOPED_TRACE(round);
    Serial16550State uart;
    uart.rbr = Pick<uint8_t>(rng);
    uart.ier = Pick<uint8_t>(rng);
    uart.divisor = Pick<uint16_t>(rng);
    uart.rx_fifo[rng() % 16] = Pick<uint8_t>(rng);
    uart.rx_head = static_cast<uint8_t>(rng() % 16);
    uart.rx_count = static_cast<uint8_t>(rng() % 17);
    uart.timeout_pending = rng() % 2;
    devices::v1::Serial16550State u;
    u.set_rbr(uart.rbr), u.set_ier(uart.ier), u.set_iir(uart.iir), u.set_fcr(uart.fcr);
    u.set_lcr(uart.lcr), u.set_mcr(uart.mcr), u.set_lsr(uart.lsr), u.set_msr(uart.msr);
    u.set_scr(uart.scr), u.set_divisor(uart.divisor);
    u.set_rx_fifo(uart.rx_fifo.data(), uart.rx_fifo.size());
    u.set_rx_head(uart.rx_head), u.set_rx_count(uart.rx_count);
    u.set_rx_trigger(uart.rx_trigger), u.set_thr_interrupt_pending(uart.thr_interrupt_pending);
    u.set_timeout_pending(uart.timeout_pending), u.set_irq_level(uart.irq_level);
    EXPECT_EQ(uart.Encode(), u.SerializeAsString());

    I8042State kbc;
    kbc.config = Pick<uint8_t>(rng);
    kbc.reset_requests = Pick<uint64_t>(rng);
    for (int i = static_cast<int>(rng() % 5); i > 0; --i) kbc.output.emplace_back(rng(), rng() % 2);
    devices::v1::I8042State k;
    k.set_status(kbc.status), k.set_config(kbc.config), k.set_output_port(kbc.output_port);
    k.set_pending_command(kbc.pending_command), k.set_keyboard_pending(kbc.keyboard_pending);
    k.set_aux_pending(kbc.aux_pending), k.set_keyboard_scanning(kbc.keyboard_scanning);
    k.set_aux_streaming(kbc.aux_streaming);
    std::string bytes, aux;
    for (const auto& [byte, is_aux] : kbc.output)
      bytes.push_back(char(byte)), aux.push_back(is_aux);
    k.set_output(bytes), k.set_output_is_aux(aux), k.set_irq_level(kbc.irq_level);
    k.set_aux_irq_level(kbc.aux_irq_level), k.set_reset_requests(kbc.reset_requests);
    EXPECT_EQ(kbc.Encode(), k.SerializeAsString());

    CmosRtcState rtc;
    rtc.cmos[rng() % 128] = Pick<uint8_t>(rng);
    rtc.offset = absl::Nanoseconds(static_cast<int64_t>(rng())) * (rng() % 2 ? -1 : 1);
    rtc.last_seen = absl::FromUnixNanos(static_cast<int64_t>(rng() >> 1));
    rtc.held = absl::CivilSecond(1900 + rng() % 200, 1 + rng() % 12, 1 + rng() % 28);
    devices::v1::CmosRtcState r;
    r.set_index(rtc.index), r.set_nmi_masked(rtc.nmi_masked);
    r.set_cmos(rtc.cmos.data(), rtc.cmos.size());
    r.set_reg_a(rtc.reg_a), r.set_reg_b(rtc.reg_b), r.set_reg_c(rtc.reg_c);
    const int64_t offset_seconds = absl::ToInt64Seconds(rtc.offset);
    r.set_offset_seconds(offset_seconds);
    r.set_offset_nanos(
        static_cast<int32_t>(absl::ToInt64Nanoseconds(rtc.offset - absl::Seconds(offset_seconds))));
    const int64_t seen = absl::ToUnixSeconds(rtc.last_seen);
    r.set_last_seen_unix_seconds(seen);
    r.set_last_seen_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(rtc.last_seen - absl::FromUnixSeconds(seen))));
    r.set_held_civil_seconds(rtc.held - absl::CivilSecond());
    EXPECT_EQ(rtc.Encode(), r.SerializeAsString());
    EXPECT_TRUE(*CmosRtcState::Decode(r.SerializeAsString()) == rtc);

    DummyDeviceState dummy;
    dummy.record = rng() % 2;
    dummy.counts.bytes = Pick<uint64_t>(rng);
    dummy.accesses.push_back({DummyAccess::kMmioRead, Pick<uint64_t>(rng), 0, {1}});
    dummy.accesses.push_back({DummyAccess::kPioWrite, 0, Pick<uint64_t>(rng), {}});
    devices::v1::DummyDeviceState d;
    d.set_record(dummy.record), d.set_mmio_reads(0), d.set_mmio_writes(0);
    d.set_pio_reads(0), d.set_pio_writes(0), d.set_bytes(dummy.counts.bytes);
    for (const DummyAccess& a : dummy.accesses) {
      devices::v1::DummyAccess* out = d.add_accesses();
      out->set_kind(a.kind), out->set_base(a.base), out->set_offset(a.offset);
      out->set_data(a.data.data(), a.data.size());
    }
    EXPECT_EQ(dummy.Encode(), d.SerializeAsString());
    EXPECT_TRUE(*DummyDeviceState::Decode(d.SerializeAsString()) == dummy);
  }
}

TEST(SnapshotOracleTest, ThePayloadIsTheBytesProtobufWrites) {
  DeviceManagerSnapshot written;
  written.next_id = 9;
  written.devices.push_back(DeviceRecord{
      1, "every kind", "dummy", "\x08\x01",
      DeviceResources({PioRange{0, 4}, MmioRange{0xd0000000, 0x1000}, MemRange{0x1000, 0x2000},
                       LegacyIrq{0}, MsiIrq{MsiIrqType::kPciMsix, 24, 3},
                       MacAddress{{0x52, 0x54, 0, 0x12, 0x34, 0x56}}, KvmMemSlot{0}}),
      DeviceResources({PioRange{0, 4}}), true});
  written.devices.push_back(DeviceRecord{8, "", "", "", {}, {}, false});
  const std::string sealed = EncodeDeviceManagerSnapshot(written);
  const absl::string_view payload = *UnsealSnapshot(sealed, kDeviceManagerPayload);

  snapshot::v1::DeviceManagerSnapshot m;
  m.set_writer("dbs_device 0.1.0");
  m.set_next_id(9);
  snapshot::v1::Device* d = m.add_devices();
  d->set_id(1), d->set_name("every kind"), d->set_kind("dummy"), d->set_state("\x08\x01");
  d->set_shared_legacy_irq(true);
  auto* pio = d->add_allocated()->mutable_pio();
  pio->set_base(0), pio->set_size(4);
  auto* mmio = d->add_allocated()->mutable_mmio();
  mmio->set_base(0xd0000000), mmio->set_size(0x1000);
  auto* mem = d->add_allocated()->mutable_mem();
  mem->set_base(0x1000), mem->set_size(0x2000);
  d->add_allocated()->set_legacy_irq(0);
  auto* msi = d->add_allocated()->mutable_msi();
  msi->set_type(static_cast<uint32_t>(MsiIrqType::kPciMsix)), msi->set_base(24), msi->set_size(3);
  d->add_allocated()->set_mac_address(std::string("\x52\x54\x00\x12\x34\x56", 6));
  d->add_allocated()->set_kvm_mem_slot(0);
  *d->add_registered() = d->allocated(0);
  m.add_devices()->set_id(8);
  EXPECT_EQ(payload, m.SerializeAsString());

  absl::StatusOr<DeviceManagerSnapshot> read =
      DecodeDeviceManagerSnapshot(SealSnapshot(kDeviceManagerPayload, m.SerializeAsString()));
  ASSERT_OK(read.status());
  EXPECT_EQ(*read, written);
}

}  // namespace
}  // namespace dbs
