// The real Linux boot trace as the oracle: every access a Linux 6.1 kernel made to COM1,
// the i8042 and the RTC while booting under QEMU is replayed, in order, through an
// IoManager into this project's devices, and every read must return what QEMU returned.

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "dbs_device/devices/cmos_rtc.h"
#include "dbs_device/devices/i8042.h"
#include "dbs_device/devices/serial16550.h"
#include "dbs_device/manager/io_manager.h"
#include "dbs_device/testing/boot_trace.h"
#include "dbs_device/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dbs {
namespace {

constexpr char kTrace[] = "testing/traces/pc.trace.gz";
constexpr char kConsole[] = "testing/traces/pc.console.log";

const std::vector<trace::Access>& Trace() {
  static const auto* const accesses = [] {
    absl::StatusOr<std::vector<trace::Access>> loaded =
        trace::LoadTrace(trace::RunfilePath(kTrace));
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
      std::abort();
    }
    return new std::vector<trace::Access>(*std::move(loaded));
  }();
  return *accesses;
}

struct ReplayResult {
  uint64_t accesses = 0;
  uint64_t reads = 0;
  uint64_t mismatches = 0;
  std::vector<std::string> first_mismatches;
};

// Replays the accesses to `ports` through `io`; `check(access, got)` decides whether a
// read matches.
template <typename Check>
ReplayResult Replay(IoManager& io, std::vector<uint16_t> ports, Check check,
                    const std::function<void(const trace::Access&)>& before = {}) {
  ReplayResult r;
  for (const trace::Access& a : Trace()) {
    if (!a.pio || std::find(ports.begin(), ports.end(), a.address) == ports.end()) continue;
    if (before) before(a);
    ++r.accesses;
    std::vector<uint8_t> bytes = trace::ValueBytes(a.value, a.size);
    const uint16_t port = static_cast<uint16_t>(a.address);
    if (a.write) {
      EXPECT_OK(io.PioWrite(port, bytes)) << "line " << a.line;
      continue;
    }
    ++r.reads;
    std::fill(bytes.begin(), bytes.end(), 0);
    EXPECT_OK(io.PioRead(port, absl::MakeSpan(bytes))) << "line " << a.line;
    const uint64_t got = trace::BytesValue(bytes);
    if (!check(a, got)) {
      ++r.mismatches;
      if (r.first_mismatches.size() < 10) {
        std::ostringstream os;
        os << "line " << a.line << ": read of port 0x" << std::hex << a.address << " gave 0x" << got
           << ", QEMU gave 0x" << a.value;
        r.first_mismatches.push_back(os.str());
      }
    }
  }
  return r;
}

void Report(const char* device, const ReplayResult& r) {
  std::printf("%s replay: %llu accesses, %llu reads compared, %llu mismatches\n", device,
              static_cast<unsigned long long>(r.accesses), static_cast<unsigned long long>(r.reads),
              static_cast<unsigned long long>(r.mismatches));
  for (const std::string& m : r.first_mismatches) std::printf("  %s\n", m.c_str());
  ::testing::Test::RecordProperty(std::string(device) + "_reads", std::to_string(r.reads));
  ::testing::Test::RecordProperty(std::string(device) + "_mismatches",
                                  std::to_string(r.mismatches));
}

TEST(TraceReplayTest, SerialAnswersTheLinuxDriverExactlyAsQemuDid) {
  IoManager io;
  std::string console;
  bool dlab = false;
  auto uart = std::make_shared<MutexDevice<Serial16550>>(
      [&](uint8_t byte) { console.push_back(static_cast<char>(byte)); });
  ASSERT_OK(io.RegisterDeviceIo(uart, {PioRange{0x3f8, 8}}));
  const ReplayResult r = Replay(
      io, {0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff},
      [](const trace::Access& a, uint64_t got) { return got == a.value; },
      [&](const trace::Access& a) {
        if (a.write && a.address == 0x3fb) dlab = a.value & serial16550::kLcrDlab;
      });
  Report("serial", r);
  EXPECT_GT(r.reads, 22000u);
  EXPECT_EQ(r.mismatches, 0u);
  const std::string expected = trace::ReadRunfile(kConsole);
  ASSERT_EQ(expected.size(), 23384u);
  EXPECT_EQ(console.size(), expected.size());
  EXPECT_TRUE(console == expected) << "the transmitted bytes differ from pc.console.log";
  EXPECT_THAT(console, ::testing::HasSubstr("is a 16550A"));
  EXPECT_FALSE(dlab);
}

TEST(TraceReplayTest, I8042AnswersExactlyAsQemuDidAndRequestsTheReset) {
  IoManager io;
  int resets = 0;
  auto kbc = std::make_shared<MutexDevice<I8042>>([&] { ++resets; });
  ASSERT_OK(io.RegisterDeviceIo(kbc, {PioRange{0x60, 1}, PioRange{0x64, 1}}));
  const ReplayResult r =
      Replay(io, {0x60, 0x64}, [](const trace::Access& a, uint64_t got) { return got == a.value; });
  Report("i8042", r);
  EXPECT_GT(r.reads, 80u);
  EXPECT_EQ(r.mismatches, 0u);
  EXPECT_EQ(resets, 1) << "the kernel's final 0xfe must request a reset";
}

// The injected clock: the recorded boot read 2026-11-24 23:23:49 first and 23:23:50 later;
// this clock starts at 23:23:49 at the kernel's first RTC read and advances 23 µs per access
// (the boot's pace), so it passes 23:23:50 where the recorded boot did.
TEST(TraceReplayTest, RtcAnswersExactlyAsQemuDidExceptTheTimeWhichFollowsTheClock) {
  const absl::CivilSecond start(2026, 11, 24, 23, 23, 49);
  const uint32_t first_read_line = 117523;
  const absl::Duration per_access = absl::Seconds(1) / (160765 - first_read_line);
  uint32_t line = 0;
  auto clock = [&] {
    return absl::FromCivil(start, absl::UTCTimeZone()) +
           (static_cast<int64_t>(line) - first_read_line) * per_access;
  };
  IoManager io;
  auto rtc = std::make_shared<MutexDevice<CmosRtc>>(clock);
  ASSERT_OK(io.RegisterDeviceIo(rtc, {PioRange{0x70, 2}}));
  uint8_t index = 0;
  uint64_t time_reads = 0;
  auto is_bcd = [](uint64_t v) { return (v & 0x0f) <= 9 && (v >> 4) <= 9; };
  const ReplayResult r = Replay(
      io, {0x70, 0x71},
      [&](const trace::Access& a, uint64_t got) {
        const bool time_register = index <= cmos_rtc::kYear && index % 2 == 0;
        if (!time_register) return got == a.value;
        // Time: valid BCD (register B says BCD) and what the injected clock says.
        ++time_reads;
        const absl::CivilSecond now = absl::ToCivilSecond(clock(), absl::UTCTimeZone());
        const int fields[] = {now.second(),
                              0,
                              now.minute(),
                              0,
                              now.hour(),
                              0,
                              static_cast<int>(absl::GetWeekday(absl::CivilDay(now))),
                              now.day(),
                              now.month(),
                              static_cast<int>(now.year() % 100)};
        const int want = index == cmos_rtc::kDayOfWeek ? (fields[6] + 1) % 7 + 1 : fields[index];
        return is_bcd(got) && ((got >> 4) * 10 + (got & 0x0f)) == static_cast<uint64_t>(want) &&
               got == a.value;
      },
      [&](const trace::Access& a) {
        line = a.line;
        if (a.write && a.address == 0x70) index = a.value & cmos_rtc::kIndexMask;
      });
  Report("rtc", r);
  EXPECT_GT(r.reads, 70u);
  EXPECT_GT(time_reads, 20u);
  EXPECT_EQ(r.mismatches, 0u);
  EXPECT_TRUE(rtc->WithLock([](CmosRtc& d) { return d.nmi_masked(); }) == false);
}

}  // namespace
}  // namespace dbs
