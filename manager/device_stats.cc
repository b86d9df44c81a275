#include "dbs_device/manager/device_stats.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace dbs {

uint64_t DeviceStats::total_errors() const {
  uint64_t total = 0;
  for (const auto& [code, count] : errors) total += count;
  return total;
}

std::string DeviceStats::ToString() const {
  std::vector<std::string> errs;
  for (const auto& [code, count] : errors) {
    errs.push_back(absl::StrCat(absl::StatusCodeToString(code), ": ", count));
  }
  return absl::StrFormat("reads=%u writes=%u bytes_read=%u bytes_written=%u errors={%s}", reads,
                         writes, bytes_read, bytes_written, absl::StrJoin(errs, ", "));
}

std::ostream& operator<<(std::ostream& os, const DeviceStats& stats) {
  return os << stats.ToString();
}

}  // namespace dbs
