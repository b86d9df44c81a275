// Fuzzes IntervalAllocator against a bitmap model over a 256-unit window placed at 0, in the
// middle, or at the top of the 64-bit space, and ResourceManager's all-or-nothing
// allocation against a model of its PIO and IRQ pools. Every status code, every range, and
// the free space after every step must match.

#include <cstdio>
#include <cstdlib>
#include <map>
#include <vector>

#include "dbs_device/resources/allocator.h"
#include "dbs_device/resources/resource_manager.h"
#define DBS_FUZZ_TARGET "allocator_fuzz"
#include "dbs_device/testing/bitmap_allocator_model.h"
#include "dbs_device/tests/fuzz/fuzz_input.h"

namespace dbs::fuzz {
namespace {

constexpr uint64_t kTop = ~uint64_t{0};

uint64_t Near(FuzzInput& in, uint64_t base) {
  const int64_t offset = static_cast<int64_t>(in.U16() % 288) - 16;
  if (offset < 0 && base < static_cast<uint64_t>(-offset)) return 0;
  const uint64_t a = base + static_cast<uint64_t>(offset);
  if (offset > 0 && a < base) return kTop;
  return a;
}

void FuzzIntervalAllocator(FuzzInput& in) {
  static constexpr uint64_t kBases[] = {0, 0x1000, kTop - 255};
  const uint64_t base = kBases[in.Below(3)];
  IntervalAllocator allocator(InclusiveRange{base, base + 255});
  testing::BitmapModel model(base, 256);
  static constexpr uint64_t kAligns[] = {1, 2, 4, 8, 16, 64, 3, 0};
  for (int step = 0; step < 300 && !in.empty(); ++step) {
    const int op = in.Below(6);
    if (op < 3) {
      Constraint c;
      c.size = in.Below(8) == 0 ? in.Below(3) : 1 + in.Below(40);
      if (in.Below(32) == 0) c.size = in.U64();
      c.min = Near(in, base);
      c.max = in.Below(4) == 0 ? kTop : Near(in, base);
      c.align = kAligns[in.Below(8)];
      c.policy = static_cast<AllocPolicy>(in.Below(3));
      absl::StatusOr<InclusiveRange> got = allocator.Allocate(c);
      absl::StatusOr<InclusiveRange> want = model.Allocate(c);
      DBS_FUZZ_CHECK(got.status().code() == want.status().code(), "allocate status");
      if (want.ok()) DBS_FUZZ_CHECK(*got == *want, "allocated range");
    } else if (op < 5 && !model.ranges().empty()) {
      auto it = model.ranges().begin();
      std::advance(it, in.Below(static_cast<uint32_t>(model.ranges().size())));
      InclusiveRange r{it->first, it->second};
      if (in.Below(6) == 0 && r.max != kTop) ++r.max;
      if (in.Below(6) == 0) ++r.min;
      DBS_FUZZ_CHECK(allocator.Free(r).code() == model.Free(r).code(), "free status");
    } else {
      const uint64_t min = Near(in, base);
      const InclusiveRange r{min, in.Below(8) == 0 ? min - 1 : min + in.Below(16)};
      DBS_FUZZ_CHECK(allocator.Reserve(r).code() == model.Reserve(r).code(), "reserve status");
    }
    DBS_FUZZ_CHECK(allocator.FreeRanges() == model.FreeRanges(), "free space");
  }
}

// ResourceManager with a 256-port PIO pool and IRQs 1-15, against bitmaps of both.
void FuzzResourceManager(FuzzInput& in) {
  ResourceManagerConfig config;
  config.pio = {0x100, 0x1ff};
  config.legacy_irq = {1, 15};
  ResourceManager rm(config);
  testing::BitmapModel pio(0x100, 256);
  std::map<uint32_t, bool> irq_used;
  std::vector<DeviceResources> held;
  for (int step = 0; step < 100 && !in.empty(); ++step) {
    if (in.Below(3) == 0 && !held.empty()) {
      const size_t i = in.Below(static_cast<uint32_t>(held.size()));
      DBS_FUZZ_CHECK(rm.FreeDeviceResources(held[i]).ok(), "free held");
      for (const PioRange& r : held[i].PioRanges()) {
        const uint64_t b = r.base.raw_value();
        DBS_FUZZ_CHECK(pio.Free(InclusiveRange{b, b + r.size.raw_value() - 1}).ok(), "model free");
      }
      for (const Resource& r : held[i]) {
        if (const auto* irq = std::get_if<LegacyIrq>(&r)) irq_used.erase(irq->irq);
      }
      DBS_FUZZ_CHECK(rm.FreeDeviceResources(held[i]).code() == absl::StatusCode::kNotFound,
                     "double free");
      held.erase(held.begin() + i);
      continue;
    }
    std::vector<ResourceConstraint> constraints;
    testing::BitmapModel next_pio = pio;
    std::map<uint32_t, bool> next_irq = irq_used;
    absl::StatusCode want = absl::StatusCode::kOk;
    std::vector<Resource> want_resources;
    for (int i = 0, n = 1 + in.Below(4); i < n; ++i) {
      if (in.Bool()) {
        const uint16_t size = static_cast<uint16_t>(in.Below(6) == 0 ? 0 : 1 + in.Below(64));
        const uint16_t align = static_cast<uint16_t>(1u << in.Below(5));
        const uint16_t lo = static_cast<uint16_t>(0xf0 + in.Below(255));
        const uint16_t hi = static_cast<uint16_t>(lo + in.Below(255));
        constraints.push_back(PioConstraint{size, align, AddressWindow<PioAddress>{lo, hi}});
        if (want == absl::StatusCode::kOk) {
          absl::StatusOr<InclusiveRange> r =
              next_pio.Allocate(Constraint{size, lo, hi, align, AllocPolicy::kFirstMatch});
          want = r.status().code();
          if (r.ok()) want_resources.push_back(PioRange{static_cast<uint16_t>(r->min), size});
        }
      } else {
        std::optional<uint32_t> irq;
        if (in.Bool()) irq = in.Below(18);
        constraints.push_back(LegacyIrqConstraint{irq});
        if (want == absl::StatusCode::kOk) {
          if (irq.has_value()) {
            if (*irq < 1 || *irq > 15) {
              want = absl::StatusCode::kInvalidArgument;
            } else if (next_irq.count(*irq)) {
              want = absl::StatusCode::kResourceExhausted;
            } else {
              next_irq[*irq] = true;
              want_resources.push_back(LegacyIrq{*irq});
            }
          } else {
            uint32_t free_irq = 1;
            while (free_irq <= 15 && next_irq.count(free_irq)) ++free_irq;
            if (free_irq > 15) {
              want = absl::StatusCode::kResourceExhausted;
            } else {
              next_irq[free_irq] = true;
              want_resources.push_back(LegacyIrq{free_irq});
            }
          }
        }
      }
    }
    absl::StatusOr<DeviceResources> got = rm.AllocateDeviceResources(constraints);
    DBS_FUZZ_CHECK(got.status().code() == want, "device allocation status");
    if (!got.ok()) continue;  // and the pools are unchanged: the model was not committed
    if (std::vector<Resource>(got->begin(), got->end()) != want_resources) {
      for (const Resource& r : *got) std::fprintf(stderr, "got  %s\n", ToString(r).c_str());
      for (const Resource& r : want_resources)
        std::fprintf(stderr, "want %s\n", ToString(r).c_str());
      for (const ResourceConstraint& c : constraints)
        std::fprintf(stderr, "constraint %s\n", ToString(c).c_str());
      DBS_FUZZ_CHECK(false, "device resources");
    }
    pio = next_pio;
    irq_used = next_irq;
    held.push_back(*got);
  }
  // Everything still free in the model can be reserved, proving the pools match it.
  for (const InclusiveRange& r : pio.FreeRanges()) {
    DBS_FUZZ_CHECK(rm.ReserveResources({PioRange{static_cast<uint16_t>(r.min),
                                                 static_cast<uint16_t>(r.max - r.min + 1)}})
                       .ok(),
                   "free space of the PIO pool");
  }
}

}  // namespace
}  // namespace dbs::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dbs::fuzz::FuzzInput in(data, size);
  if (in.Bool()) {
    dbs::fuzz::FuzzIntervalAllocator(in);
  } else {
    dbs::fuzz::FuzzResourceManager(in);
  }
  return 0;
}
