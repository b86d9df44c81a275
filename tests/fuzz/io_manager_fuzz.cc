// Fuzzes IoManager (and through it IoBus) against a brute-force model: a list of
// registered ranges searched linearly. A byte string decodes into registrations,
// unregistrations, transactions, moves and dispatches on PIO and MMIO; every status code,
// and every dispatched (device, base, offset, length), must match the model, and so must
// the statistics (per device, with Options::statistics on or off, and unclaimed).

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>

#include "dbs_device/bus/rcu.h"
#include "dbs_device/manager/io_manager.h"
#define DBS_FUZZ_TARGET "io_manager_fuzz"
#include "dbs_device/tests/fuzz/fuzz_input.h"

namespace dbs::fuzz {
namespace {

constexpr uint64_t kTop = ~uint64_t{0};

struct Call {
  bool pio = false;
  bool write = false;
  uint64_t base = 0;
  uint64_t offset = 0;
  size_t length = 0;
  friend bool operator==(const Call&, const Call&) = default;
};

class FuzzDevice : public DeviceIo {
 public:
  void Read(IoAddress b, IoAddress o, absl::Span<uint8_t> d) override {
    Note({false, false, b.raw_value(), o.raw_value(), d.size()});
  }
  void Write(IoAddress b, IoAddress o, absl::Span<const uint8_t> d) override {
    Note({false, true, b.raw_value(), o.raw_value(), d.size()});
  }
  void PioRead(PioAddress b, PioAddress o, absl::Span<uint8_t> d) override {
    Note({true, false, b.raw_value(), o.raw_value(), d.size()});
  }
  void PioWrite(PioAddress b, PioAddress o, absl::Span<const uint8_t> d) override {
    Note({true, true, b.raw_value(), o.raw_value(), d.size()});
  }
  uint64_t calls = 0;
  Call last;

 private:
  void Note(Call c) {
    ++calls;
    last = c;
  }
};

struct ModelRange {
  BusRange range;
  int device;
};

// The model: ranges in a vector, everything by linear search.
struct Model {
  std::vector<ModelRange> ranges;

  static bool Valid(const BusRange& r) {
    if (r.size == 0 || r.base + (r.size - 1) < r.base) return false;
    return r.space != AddressSpace::kPio || (r.base < 0x10000 && r.size <= 0x10000 - r.base);
  }
  bool HasDevice(int device) const {
    for (const ModelRange& m : ranges) {
      if (m.device == device) return true;
    }
    return false;
  }
  // The range registered exactly at `r`: a transaction's changes are followed in order on
  // a draft that may overlap on the way, and of several ranges exactly at `r` a change
  // names the one that was there first (ranges arrive at the back).
  int FindExact(const BusRange& r) const {
    for (size_t i = 0; i < ranges.size(); ++i) {
      if (ranges[i].range == r) return static_cast<int>(i);
    }
    return -1;
  }
  // The draft changes, each checked on its own.
  absl::StatusCode Insert(const BusRange& r, int device) {
    ranges.push_back({r, device});
    return absl::StatusCode::kOk;
  }
  absl::StatusCode Remove(const BusRange& r) {
    const int i = FindExact(r);
    if (i < 0) return absl::StatusCode::kNotFound;
    ranges.erase(ranges.begin() + i);
    return absl::StatusCode::kOk;
  }
  absl::StatusCode Move(const BusRange& from, uint64_t new_base) {
    const int i = FindExact(from);
    if (i < 0) return absl::StatusCode::kNotFound;
    const BusRange to{from.space, new_base, from.size};
    if (!Valid(to)) return absl::StatusCode::kInvalidArgument;
    const ModelRange moved = ranges[i];
    ranges.erase(ranges.begin() + i);
    ranges.push_back({to, moved.device});
    return absl::StatusCode::kOk;
  }
  // The draft's result: kAlreadyExists if two of its ranges share an address.
  absl::StatusCode Check() const {
    for (size_t i = 0; i < ranges.size(); ++i) {
      for (size_t j = i + 1; j < ranges.size(); ++j) {
        const BusRange& a = ranges[i].range;
        const BusRange& b = ranges[j].range;
        if (a.space == b.space && a.base <= b.last() && b.base <= a.last()) {
          return absl::StatusCode::kAlreadyExists;
        }
      }
    }
    return absl::StatusCode::kOk;
  }
};

// Addresses cluster so that overlaps and near misses are common: low PIO/MMIO, and the top
// of each space.
BusRange DecodeRange(FuzzInput& in) {
  const AddressSpace space = in.Bool() ? AddressSpace::kPio : AddressSpace::kMmio;
  const uint8_t where = in.U8();
  uint64_t base = (where & 0x3f) * 4;
  if (where & 0x40) base = (space == AddressSpace::kPio ? 0x10000 : 0) - 0x100 + (where & 0x3f) * 4;
  if (space == AddressSpace::kMmio && (where & 0x40)) base = kTop - 0xff + (where & 0x3f) * 4;
  uint64_t size = in.Below(24);
  if (in.Below(16) == 0) size = in.U16();
  return BusRange{space, base, size};
}

Resource ToResource(const BusRange& r) {
  if (r.space == AddressSpace::kPio) {
    return PioRange{static_cast<uint16_t>(r.base), static_cast<uint16_t>(r.size)};
  }
  return MmioRange{r.base, r.size};
}

// PIO sizes and bases must survive the 16-bit resource types unchanged.
bool Representable(const BusRange& r) {
  return r.space == AddressSpace::kMmio || (r.base <= 0xffff && r.size <= 0xffff);
}

// What GetDeviceStats should report for one device, and UnclaimedStats for none.
struct Counts {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t out_of_range = 0;
  uint64_t not_found = 0;
  uint64_t zero_length = 0;
};

uint64_t ErrorCount(const DeviceStats& stats, absl::StatusCode code) {
  auto it = stats.errors.find(code);
  return it == stats.errors.end() ? 0 : it->second;
}

void RunOne(FuzzInput& in) {
  RcuDomain domain;  // declared first: outlives the manager
  const bool statistics = in.Bool();
  IoManager io(domain, IoManager::Options{.statistics = statistics});
  std::vector<std::shared_ptr<FuzzDevice>> devices;
  for (int i = 0; i < 4; ++i) devices.push_back(std::make_shared<FuzzDevice>());
  Model model;
  Counts expected[4];
  Counts unclaimed;
  // Successful accesses are counted only with statistics on; failed ones always.
  auto check_stats = [&] {
    for (int d = 0; d < 4; ++d) {
      absl::StatusOr<DeviceStats> stats = io.GetDeviceStats(devices[d].get());
      DBS_FUZZ_CHECK(stats.ok() == model.HasDevice(d), "stats exist iff the device has a range");
      if (!stats.ok()) continue;
      const Counts& e = expected[d];
      const uint64_t on = statistics ? 1 : 0;
      DBS_FUZZ_CHECK(stats->reads == on * e.reads && stats->writes == on * e.writes,
                     "device access counts");
      DBS_FUZZ_CHECK(
          stats->bytes_read == on * e.bytes_read && stats->bytes_written == on * e.bytes_written,
          "device byte counts");
      DBS_FUZZ_CHECK(stats->total_errors() == e.out_of_range &&
                         ErrorCount(*stats, absl::StatusCode::kOutOfRange) == e.out_of_range,
                     "device error counts");
    }
    const DeviceStats none = io.UnclaimedStats();
    DBS_FUZZ_CHECK(
        ErrorCount(none, absl::StatusCode::kNotFound) == unclaimed.not_found &&
            ErrorCount(none, absl::StatusCode::kInvalidArgument) == unclaimed.zero_length,
        "unclaimed error counts");
  };

  for (int step = 0; step < 200 && !in.empty(); ++step) {
    switch (in.Below(8)) {
      case 0: {  // register 1-3 ranges for one device
        const int dev = in.Below(4);
        std::vector<BusRange> ranges;
        for (int i = 0, n = 1 + in.Below(3); i < n; ++i) {
          BusRange r = DecodeRange(in);
          if (Representable(r)) ranges.push_back(r);
        }
        std::vector<Resource> resources;
        for (const BusRange& r : ranges) resources.push_back(ToResource(r));
        const absl::StatusCode got = io.RegisterDeviceIo(devices[dev], resources).code();
        absl::StatusCode want = absl::StatusCode::kOk;
        for (const BusRange& r : ranges) {
          if (!Model::Valid(r)) {
            want = absl::StatusCode::kInvalidArgument;
            break;
          }
        }
        if (want == absl::StatusCode::kOk) {
          Model next = model;
          for (const BusRange& r : ranges) next.Insert(r, dev);
          want = next.Check();
          if (want == absl::StatusCode::kOk) model = next;
        }
        DBS_FUZZ_CHECK(got == want, "register status");
        break;
      }
      case 1: {  // unregister 1-2 ranges, usually registered ones
        std::vector<BusRange> ranges;
        for (int i = 0, n = 1 + in.Below(2); i < n; ++i) {
          if (!model.ranges.empty() && in.Below(4) != 0) {
            ranges.push_back(model.ranges[in.Below(model.ranges.size())].range);
          } else {
            BusRange r = DecodeRange(in);
            if (Representable(r)) ranges.push_back(r);
          }
        }
        std::vector<Resource> resources;
        for (const BusRange& r : ranges) resources.push_back(ToResource(r));
        const absl::StatusCode got = io.UnregisterDeviceIo(resources).code();
        Model next = model;
        absl::StatusCode want = absl::StatusCode::kOk;
        for (const BusRange& r : ranges) {
          if ((want = next.Remove(r)) != absl::StatusCode::kOk) break;
        }
        if (want == absl::StatusCode::kOk) model = next;
        DBS_FUZZ_CHECK(got == want, "unregister status");
        break;
      }
      case 2: {  // a transaction of 1-4 changes
        IoManager::Transaction tx = io.Begin();
        Model next = model;
        absl::StatusCode want = absl::StatusCode::kOk;
        for (int i = 0, n = 1 + in.Below(4); i < n; ++i) {
          const int kind = in.Below(3);
          BusRange r = (kind != 0 && !model.ranges.empty() && in.Bool())
                           ? model.ranges[in.Below(model.ranges.size())].range
                           : DecodeRange(in);
          if (!Representable(r)) continue;
          if (kind == 0) {
            const int dev = in.Below(4);
            const absl::StatusCode recorded = tx.Register(devices[dev], {ToResource(r)}).code();
            const absl::StatusCode expected =
                Model::Valid(r) ? absl::StatusCode::kOk : absl::StatusCode::kInvalidArgument;
            DBS_FUZZ_CHECK(recorded == expected, "transaction register status");
            if (recorded == absl::StatusCode::kOk && want == absl::StatusCode::kOk) {
              want = next.Insert(r, dev);
            }
          } else if (kind == 1) {
            DBS_FUZZ_CHECK(tx.Unregister({ToResource(r)}).ok(), "transaction unregister recorded");
            if (want == absl::StatusCode::kOk) want = next.Remove(r);
          } else {
            const uint64_t to = DecodeRange(in).base;
            DBS_FUZZ_CHECK(tx.Move(ToResource(r), to).ok(), "transaction move recorded");
            if (want == absl::StatusCode::kOk) want = next.Move(r, to);
          }
        }
        if (want == absl::StatusCode::kOk) want = next.Check();
        if (in.Below(8) == 0) {
          tx.Cancel();
          DBS_FUZZ_CHECK(tx.Commit().code() == absl::StatusCode::kFailedPrecondition, "cancelled");
          break;
        }
        const absl::StatusCode got = tx.Commit().code();
        DBS_FUZZ_CHECK(got == want, "transaction status");
        if (want == absl::StatusCode::kOk) model = next;
        break;
      }
      case 3: {  // move
        BusRange from = (!model.ranges.empty() && in.Below(4) != 0)
                            ? model.ranges[in.Below(model.ranges.size())].range
                            : DecodeRange(in);
        const uint64_t to = DecodeRange(in).base;
        if (!Representable(from)) break;
        const absl::StatusCode got = io.MoveDeviceIo(ToResource(from), to).code();
        Model next = model;
        absl::StatusCode want = next.Move(from, to);
        if (want == absl::StatusCode::kOk) want = next.Check();
        if (want == absl::StatusCode::kOk) model = next;
        DBS_FUZZ_CHECK(got == want, "move status");
        break;
      }
      default: {  // dispatch
        const bool pio = in.Bool();
        const bool write = in.Bool();
        uint64_t address = DecodeRange(in).base + in.Below(4);
        if (pio) address &= 0xffff;
        const size_t length = in.Below(9);
        uint8_t buffer[8] = {};
        std::vector<uint64_t> before;
        for (const auto& d : devices) before.push_back(d->calls);
        absl::Status status;
        if (pio) {
          const uint16_t port = static_cast<uint16_t>(address);
          status = write ? io.PioWrite(port, absl::MakeConstSpan(buffer, length))
                         : io.PioRead(port, absl::MakeSpan(buffer, length));
        } else {
          status = write ? io.MmioWrite(address, absl::MakeConstSpan(buffer, length))
                         : io.MmioRead(address, absl::MakeSpan(buffer, length));
        }
        absl::StatusCode want = absl::StatusCode::kNotFound;
        int device = -1;
        int owner = -1;  // the device whose range holds the address
        Call call;
        if (length == 0) {
          want = absl::StatusCode::kInvalidArgument;
        } else {
          for (const ModelRange& m : model.ranges) {
            if ((m.range.space == AddressSpace::kPio) != pio) continue;
            if (address < m.range.base || address > m.range.last()) continue;
            owner = m.device;
            if (length - 1 > m.range.last() - address) {
              want = absl::StatusCode::kOutOfRange;
            } else {
              want = absl::StatusCode::kOk;
              device = m.device;
              call = {pio, write, m.range.base, address - m.range.base, length};
            }
          }
        }
        if (want == absl::StatusCode::kOk) {
          Counts& e = expected[device];
          (write ? e.writes : e.reads) += 1;
          (write ? e.bytes_written : e.bytes_read) += length;
        } else if (want == absl::StatusCode::kOutOfRange) {
          ++expected[owner].out_of_range;
        } else if (want == absl::StatusCode::kNotFound) {
          ++unclaimed.not_found;
        } else {
          ++unclaimed.zero_length;
        }
        DBS_FUZZ_CHECK(status.code() == want, "dispatch status");
        for (int d = 0; d < 4; ++d) {
          const uint64_t expected_calls = before[d] + (d == device ? 1 : 0);
          DBS_FUZZ_CHECK(devices[d]->calls == expected_calls, "which device was called");
        }
        if (device >= 0) DBS_FUZZ_CHECK(devices[device]->last == call, "base, offset, length");
        break;
      }
    }
    DBS_FUZZ_CHECK(io.range_count() == model.ranges.size(), "range count");
    // A device whose last range went away starts from zero when registered again.
    for (int d = 0; d < 4; ++d) {
      if (!model.HasDevice(d)) expected[d] = Counts{};
    }
    if (step % 16 == 15) check_stats();
  }
  check_stats();
}

}  // namespace
}  // namespace dbs::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dbs::fuzz::FuzzInput in(data, size);
  dbs::fuzz::RunOne(in);
  return 0;
}
