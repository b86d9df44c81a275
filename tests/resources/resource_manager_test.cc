#include "dbs_device/resources/resource_manager.h"

#include <thread>
#include <vector>

#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

using ::dbs::testing::IsOkAndHolds;
using ::dbs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

ResourceManagerConfig SmallConfig() {
  ResourceManagerConfig config;
  config.pio = {0x100, 0x1ff};
  config.mmio = {{0x10000, 0x1ffff}, {0x100000, 0x1fffff}};
  config.mem = {0, 0xfffff};
  config.legacy_irq = {1, 4};
  config.msi = {32, 63};
  config.kvm_mem_slots = {0, 7};
  return config;
}

// Allocating `probe` succeeds exactly when the pools are as they were.
std::vector<ResourceConstraint> EverythingOnce() {
  return {PioConstraint{0x100},    MmioConstraint{0x10000}, MmioConstraint{0x100000},
          MemConstraint{0x100000}, LegacyIrqConstraint{1},  LegacyIrqConstraint{2},
          LegacyIrqConstraint{3},  LegacyIrqConstraint{4},  GenericIrqConstraint{32},
          KvmMemSlotConstraint{8}};
}

TEST(ResourceManagerTest, AllocatesEachKindInOrder) {
  ResourceManager rm(SmallConfig());
  ASSERT_OK_AND_ASSIGN(DeviceResources r, rm.AllocateDeviceResources(
                                              {PioConstraint{8}, MmioConstraint{0x1000},
                                               LegacyIrqConstraint{}, PciMsiIrqConstraint{3},
                                               PciMsixIrqConstraint{5}, GenericIrqConstraint{2},
                                               KvmMemSlotConstraint{2, 3}, MemConstraint{0x2000}}));
  EXPECT_THAT(r.PioRanges(), ElementsAre(PioRange{0x100, 8}));
  EXPECT_THAT(r.MmioRanges(), ElementsAre(MmioRange{0x10000, 0x1000}));
  EXPECT_EQ(r.LegacyIrq(), 1u);
  // PCI MSI: 3 rounded up to 4, aligned to 4.
  EXPECT_EQ(r.PciMsiIrqs(), (MsiIrq{MsiIrqType::kPciMsi, 32, 4}));
  EXPECT_EQ(r.PciMsixIrqs(), (MsiIrq{MsiIrqType::kPciMsix, 36, 5}));
  EXPECT_EQ(r.GenericMsiIrqs(), (MsiIrq{MsiIrqType::kGenericMsi, 41, 2}));
  EXPECT_THAT(r.KvmMemSlots(), ElementsAre(3u, 4u));
  EXPECT_THAT(r.MemRanges(), ElementsAre(MemRange{0, 0x2000}));
  ASSERT_OK(rm.FreeDeviceResources(r));
  EXPECT_OK(rm.AllocateDeviceResources(EverythingOnce()).status());
}

TEST(ResourceManagerTest, X86DefaultsPlaceAnywherePortsInThePciIoWindowAndKeepTheLegacyOnes) {
  ResourceManager rm = ResourceManager::X86Defaults();
  for (int i = 0; i < 25; ++i) {
    ASSERT_OK_AND_ASSIGN(DeviceResources got,
                         rm.AllocateDeviceResources({PioConstraint{.size = 4}}));
    const PioRange pio = std::get<PioRange>(got[0]);
    EXPECT_EQ(pio.base.raw_value(), 0x1000 + 4 * i);
  }
  // The i8042's ports are still there for the device that lives at them.
  EXPECT_OK(rm.AllocateDeviceResources({PioConstraint{1, 1, AddressWindow<PioAddress>{0x60, 0x60}},
                                        PioConstraint{1, 1, AddressWindow<PioAddress>{0x64, 0x64}}})
                .status());
}

TEST(ResourceManagerTest, WithoutAnAnywhereWindowPortsComeFromTheWholePool) {
  ResourceManager rm(ResourceManagerConfig{});
  ASSERT_OK_AND_ASSIGN(DeviceResources got, rm.AllocateDeviceResources({PioConstraint{.size = 4}}));
  EXPECT_EQ(std::get<PioRange>(got[0]).base.raw_value(), 0u);
  ResourceManagerConfig config;
  config.pio_anywhere = InclusiveRange{0x400, 0x4ff};
  ResourceManager windowed(config);
  ASSERT_OK_AND_ASSIGN(got, windowed.AllocateDeviceResources({PioConstraint{.size = 0x100}}));
  EXPECT_EQ(std::get<PioRange>(got[0]).base.raw_value(), 0x400u);
  EXPECT_THAT(windowed.AllocateDeviceResources({PioConstraint{.size = 1}}),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(ResourceManagerTest, PioAndMmioWindowsAreHonoured) {
  ResourceManager rm(SmallConfig());
  ASSERT_OK_AND_ASSIGN(
      DeviceResources r,
      rm.AllocateDeviceResources(
          {PioConstraint{8, 8, AddressWindow<PioAddress>{0x1f8, 0x1ff}},
           MmioConstraint{0x1000, 0x1000, AddressWindow<IoAddress>{0x100000, 0x1fffff}}}));
  EXPECT_THAT(r.PioRanges(), ElementsAre(PioRange{0x1f8, 8}));
  EXPECT_THAT(r.MmioRanges(), ElementsAre(MmioRange{0x100000, 0x1000}));
}

TEST(ResourceManagerTest, MmioFallsThroughToTheNextWindow) {
  ResourceManager rm(SmallConfig());
  ASSERT_OK(rm.AllocateDeviceResources({MmioConstraint{0x10000}}).status());
  ASSERT_OK_AND_ASSIGN(DeviceResources r, rm.AllocateDeviceResources({MmioConstraint{0x1000}}));
  EXPECT_THAT(r.MmioRanges(), ElementsAre(MmioRange{0x100000, 0x1000}));
}

TEST(ResourceManagerTest, FailureOnTheLastConstraintRollsEverythingBack) {
  ResourceManager rm(SmallConfig());
  EXPECT_THAT(
      rm.AllocateDeviceResources({PioConstraint{8}, MmioConstraint{0x1000}, LegacyIrqConstraint{2},
                                  PciMsiIrqConstraint{4}, KvmMemSlotConstraint{2},
                                  MemConstraint{0x1000}, PioConstraint{0x1000}}),
      StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("PIO size 0x1000")));
  // Every pool is whole again: all of it can be taken at once.
  EXPECT_OK(rm.AllocateDeviceResources(EverythingOnce()).status());
}

TEST(ResourceManagerTest, MalformedConstraintIsInvalidArgumentAndRollsBack) {
  ResourceManager rm(SmallConfig());
  EXPECT_THAT(rm.AllocateDeviceResources({PioConstraint{8}, PioConstraint{0}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(rm.AllocateDeviceResources({PioConstraint{8}, MmioConstraint{0x1000, 3}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      rm.AllocateDeviceResources(
          {LegacyIrqConstraint{}, MemConstraint{0x1000, 0x1000, AddressWindow<IoAddress>{2, 1}}}),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(rm.AllocateDeviceResources({PciMsiIrqConstraint{0}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(rm.AllocateDeviceResources({PciMsiIrqConstraint{33}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_OK(rm.AllocateDeviceResources(EverythingOnce()).status());
}

TEST(ResourceManagerTest, SharedLegacyIrq) {
  ResourceManager rm(SmallConfig());
  ASSERT_OK_AND_ASSIGN(DeviceResources a,
                       rm.AllocateDeviceResources({LegacyIrqConstraint{3, /*shared=*/true}}));
  ASSERT_OK_AND_ASSIGN(DeviceResources b,
                       rm.AllocateDeviceResources({LegacyIrqConstraint{3, /*shared=*/true}}));
  EXPECT_EQ(a.LegacyIrq(), 3u);
  EXPECT_EQ(b.LegacyIrq(), 3u);
  EXPECT_THAT(rm.AllocateDeviceResources({LegacyIrqConstraint{3}}),
              StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_OK(rm.FreeDeviceResources(a));
  EXPECT_THAT(rm.AllocateDeviceResources({LegacyIrqConstraint{3}}),
              StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_OK(rm.FreeDeviceResources(b));
  EXPECT_OK(rm.AllocateDeviceResources({LegacyIrqConstraint{3}}).status());
}

TEST(ResourceManagerTest, FreeingWhatIsNotAllocatedIsNotFoundAndFreesNothing) {
  ResourceManager rm(SmallConfig());
  ASSERT_OK_AND_ASSIGN(DeviceResources r,
                       rm.AllocateDeviceResources({PioConstraint{8}, LegacyIrqConstraint{1, true},
                                                   GenericIrqConstraint{2}}));
  DeviceResources bogus = r;
  bogus.Append(MmioRange{0x10000, 0x1000});
  EXPECT_THAT(rm.FreeDeviceResources(bogus),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("0x10000")));
  // Nothing was freed: the same resources are still taken...
  EXPECT_THAT(
      rm.AllocateDeviceResources({PioConstraint{8, 1, AddressWindow<PioAddress>{0x100, 0x107}}}),
      StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(rm.AllocateDeviceResources({LegacyIrqConstraint{1}}),
              StatusIs(absl::StatusCode::kResourceExhausted));
  // ...and the shared IRQ is still shared (it can be joined).
  EXPECT_OK(rm.AllocateDeviceResources({LegacyIrqConstraint{1, true}}).status());
  ASSERT_OK(rm.FreeDeviceResources(r));
  EXPECT_THAT(rm.FreeDeviceResources(r), StatusIs(absl::StatusCode::kNotFound));
}

TEST(ResourceManagerTest, ReserveResourcesAllOrNothing) {
  ResourceManager rm(SmallConfig());
  EXPECT_THAT(rm.ReserveResources({PioRange{0x100, 8}, MmioRange{0x1000, 0x10}}),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("0x1000")));
  ASSERT_OK(rm.ReserveResources({PioRange{0x100, 8}, KvmMemSlot{0}}));
  ASSERT_OK_AND_ASSIGN(DeviceResources r,
                       rm.AllocateDeviceResources({PioConstraint{8}, KvmMemSlotConstraint{}}));
  EXPECT_THAT(r.PioRanges(), ElementsAre(PioRange{0x108, 8}));
  EXPECT_THAT(r.KvmMemSlots(), ElementsAre(1u));
}

// What a restore needs: an IRQ that was shared comes back shared, joining its sharers.
TEST(ResourceManagerTest, ReservingASharedIrqJoinsItsSharersAndExcludesExclusiveUse) {
  ResourceManager rm(SmallConfig());
  ASSERT_OK(rm.ReserveResources({LegacyIrq{3}}, /*share_legacy_irq=*/true));
  ASSERT_OK(rm.ReserveResources({PioRange{0x100, 8}, LegacyIrq{3}}, /*share_legacy_irq=*/true));
  EXPECT_THAT(rm.ReserveResources({LegacyIrq{3}}), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(rm.AllocateDeviceResources({LegacyIrqConstraint{3}}),
              StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_OK_AND_ASSIGN(DeviceResources third,
                       rm.AllocateDeviceResources({LegacyIrqConstraint{3, /*shared=*/true}}));
  // Three sharers: the IRQ is free again only when all three are gone.
  ASSERT_OK(rm.FreeDeviceResources(third));
  ASSERT_OK(rm.FreeDeviceResources(DeviceResources{LegacyIrq{3}}));
  EXPECT_THAT(rm.ReserveResources({LegacyIrq{3}}), StatusIs(absl::StatusCode::kResourceExhausted));
  ASSERT_OK(rm.FreeDeviceResources(DeviceResources{PioRange{0x100, 8}, LegacyIrq{3}}));
  EXPECT_OK(rm.ReserveResources({LegacyIrq{3}}));
  // An exclusive IRQ cannot be reserved shared; the failed call took nothing.
  EXPECT_THAT(rm.ReserveResources({PioRange{0x180, 8}, LegacyIrq{3}}, true),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("IRQ 3")));
  EXPECT_OK(rm.ReserveResources({PioRange{0x180, 8}}));
}

TEST(ResourceManagerTest, ExactConstraintsAskForTheSameResourcesAgain) {
  const DeviceResources had{PioRange{0x1f0, 8}, MmioRange{0x12000, 0x1000}, LegacyIrq{3},
                            KvmMemSlot{6}, KvmMemSlot{7}};
  ResourceManager rm(SmallConfig());
  ASSERT_OK_AND_ASSIGN(DeviceResources got, rm.AllocateDeviceResources(ExactConstraints(had)));
  EXPECT_EQ(got, had);
  EXPECT_THAT(rm.AllocateDeviceResources(ExactConstraints(had)),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(ResourceManagerTest, X86DefaultsServeAComPort) {
  ResourceManager rm = ResourceManager::X86Defaults();
  ASSERT_OK_AND_ASSIGN(
      DeviceResources r,
      rm.AllocateDeviceResources({PioConstraint{8, 8, AddressWindow<PioAddress>{0x3f8, 0x3ff}},
                                  LegacyIrqConstraint{4}, MmioConstraint{0x1000}}));
  EXPECT_THAT(r.PioRanges(), ElementsAre(PioRange{0x3f8, 8}));
  EXPECT_EQ(r.LegacyIrq(), 4u);
  EXPECT_THAT(r.MmioRanges(), ElementsAre(MmioRange{0xd0000000, 0x1000}));
}

TEST(ResourceManagerTest, ConcurrentCallersNeverShareARange) {
  ResourceManager rm(SmallConfig());
  constexpr int kThreads = 4;
  std::vector<std::vector<DeviceResources>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&rm, &got, t] {
      for (int i = 0; i < 200; ++i) {
        auto r = rm.AllocateDeviceResources({PioConstraint{1}, GenericIrqConstraint{1}});
        if (r.ok()) got[t].push_back(*r);
        if (i % 3 == 2 && !got[t].empty()) {
          ASSERT_OK(rm.FreeDeviceResources(got[t].back()));
          got[t].pop_back();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<uint16_t> ports;
  size_t held = 0;
  for (const auto& list : got) {
    for (const DeviceResources& r : list) {
      ++held;
      EXPECT_TRUE(ports.insert(r.PioRanges()[0].base.raw_value()).second);
    }
  }
  EXPECT_EQ(ports.size(), held);
  EXPECT_LE(held, 32u);  // the MSI pool has 32 vectors
}

}  // namespace
}  // namespace dbs
