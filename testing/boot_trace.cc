#include "dbs_device/testing/boot_trace.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"

namespace dbs::trace {
namespace {

absl::StatusOr<std::vector<std::string>> ReadLines(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");  // reads plain files too
  if (file == nullptr) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::vector<std::string> lines;
  std::string current;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof(buffer))) > 0) {
    for (int i = 0; i < n; ++i) {
      if (buffer[i] == '\n') {
        lines.push_back(std::move(current));
        current.clear();
      } else {
        current.push_back(buffer[i]);
      }
    }
  }
  const bool failed = n < 0;
  gzclose(file);
  if (failed) return absl::DataLossError(absl::StrCat("cannot read ", path));
  if (!current.empty()) lines.push_back(std::move(current));
  return lines;
}

bool ParseHex(absl::string_view text, uint64_t* value) {
  if (!absl::ConsumePrefix(&text, "0x")) return false;
  return absl::SimpleHexAtoi(text, value);
}

}  // namespace

absl::StatusOr<std::vector<Access>> LoadTrace(const std::string& path) {
  absl::StatusOr<std::vector<std::string>> lines = ReadLines(path);
  if (!lines.ok()) return lines.status();
  std::vector<Access> out;
  out.reserve(lines->size());
  for (size_t i = 0; i < lines->size(); ++i) {
    const std::string& line = (*lines)[i];
    if (line.empty()) continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    Access a;
    uint64_t size = 0;
    a.line = static_cast<uint32_t>(i + 1);
    const bool ok = f.size() == 5 && (f[0] == "R" || f[0] == "W") && (f[1] == "P" || f[1] == "M") &&
                    ParseHex(f[2], &a.address) && absl::SimpleAtoi(f[3], &size) &&
                    ParseHex(f[4], &a.value) && (size == 1 || size == 2 || size == 4 || size == 8);
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s:%d: not an access: \"%s\"", path, i + 1, line));
    }
    a.write = f[0] == "W";
    a.pio = f[1] == "P";
    a.size = static_cast<uint8_t>(size);
    out.push_back(a);
  }
  return out;
}

DeviceMap Flatten(std::vector<MapRange> ranges) {
  DeviceMap map;
  // Smallest first: each range keeps only what no smaller range already claimed.
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const MapRange& a, const MapRange& b) { return a.size < b.size; });
  for (const MapRange& r : ranges) {
    std::vector<MapRange> pieces{r};
    for (const MapRange& claimed : map.ranges) {
      if (claimed.pio != r.pio) continue;
      std::vector<MapRange> next;
      for (const MapRange& p : pieces) {
        const uint64_t p_last = p.base + p.size - 1;
        const uint64_t c_last = claimed.base + claimed.size - 1;
        if (c_last < p.base || claimed.base > p_last) {
          next.push_back(p);
          continue;
        }
        if (claimed.base > p.base) next.push_back({p.pio, p.base, claimed.base - p.base, p.name});
        if (c_last < p_last) next.push_back({p.pio, c_last + 1, p_last - c_last, p.name});
      }
      if (next.size() != 1 || next[0].base != pieces[0].base || next[0].size != pieces[0].size) {
        map.notes.push_back(absl::StrFormat("%s %#x+%#x lies over %s %#x+%#x: %s keeps the overlap",
                                            claimed.name, claimed.base, claimed.size, r.name,
                                            r.base, r.size, claimed.name));
      }
      pieces = std::move(next);
    }
    for (const MapRange& p : pieces) map.ranges.push_back(p);
  }
  std::sort(map.ranges.begin(), map.ranges.end(), [](const MapRange& a, const MapRange& b) {
    return a.pio != b.pio ? a.pio : a.base < b.base;
  });
  return map;
}

absl::StatusOr<DeviceMap> LoadDeviceMap(const std::string& path) {
  absl::StatusOr<std::vector<std::string>> lines = ReadLines(path);
  if (!lines.ok()) return lines.status();
  std::vector<MapRange> ranges;
  for (size_t i = 0; i < lines->size(); ++i) {
    const std::string& line = (*lines)[i];
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(' ', 3));
    MapRange r;
    const bool ok = f.size() == 4 && (f[0] == "P" || f[0] == "M") && ParseHex(f[1], &r.base) &&
                    ParseHex(f[2], &r.size) && r.size > 0 && r.base + (r.size - 1) >= r.base;
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s:%d: not a range: \"%s\"", path, i + 1, line));
    }
    r.pio = f[0] == "P";
    r.name = std::string(f[3]);
    ranges.push_back(std::move(r));
  }
  return Flatten(std::move(ranges));
}

std::string RunfilePath(const std::string& workspace_relative) {
  for (const char* var : {"TEST_SRCDIR", "RUNFILES_DIR"}) {
    if (const char* dir = std::getenv(var)) {
      const std::string candidate = absl::StrCat(dir, "/dbs_device/", workspace_relative);
      if (std::ifstream(candidate).good()) return candidate;
    }
  }
  return workspace_relative;  // bazel run starts in the runfiles tree of the workspace
}

std::string ReadRunfile(const std::string& workspace_relative) {
  std::ifstream in(RunfilePath(workspace_relative), std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::optional<RecordedClock> InferRtcClock(const std::vector<Access>& accesses) {
  constexpr int kFields[] = {0, 2, 4, 7, 8, 9};  // s, min, h, day, month, year
  int value[10] = {};
  bool seen[10] = {};
  uint8_t index = 0;
  uint32_t first_line = 0;
  int first_second = -1;
  for (const Access& a : accesses) {
    if (!a.pio) continue;
    if (a.address == 0x70 && a.write) index = a.value & 0x7f;
    if (a.address != 0x71 || a.write || index > 9) continue;
    const int decoded = static_cast<int>((a.value >> 4) * 10 + (a.value & 0x0f));
    if (!seen[index]) {
      seen[index] = true;
      value[index] = decoded;
      if (index == 0) {
        first_line = a.line;
        first_second = decoded;
      }
    } else if (index == 0 && decoded != first_second) {
      for (int f : kFields) {
        if (!seen[f]) return std::nullopt;
      }
      RecordedClock clock;
      clock.start = absl::FromCivil(
          absl::CivilSecond(2000 + value[9], value[8], value[7], value[4], value[2], first_second),
          absl::UTCTimeZone());
      clock.start_line = first_line;
      clock.per_line = absl::Seconds(1) / (a.line - first_line);
      // Half a line late, so the second is passed at the line that first showed it.
      clock.start += clock.per_line / 2;
      return clock;
    }
  }
  return std::nullopt;
}

std::vector<uint8_t> ValueBytes(uint64_t value, uint8_t size) {
  std::vector<uint8_t> bytes(size);
  for (uint8_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
  return bytes;
}

uint64_t BytesValue(const std::vector<uint8_t>& bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes.size() && i < 8; ++i) value |= uint64_t{bytes[i]} << (8 * i);
  return value;
}

}  // namespace dbs::trace
