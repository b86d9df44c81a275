#include "dbs_device/device/access.h"

#include <bit>
#include <utility>

#include "absl/strings/str_format.h"

namespace dbs {
namespace {

bool IsAccessSize(uint8_t size) { return size >= 1 && size <= 8 && std::has_single_bit(size); }

}  // namespace

absl::Status AccessRules::Validate() const {
  for (auto [name, size] :
       {std::pair{"min_size", min_size}, std::pair{"max_size", max_size},
        std::pair{"impl_min_size", impl_min_size}, std::pair{"impl_max_size", impl_max_size}}) {
    if (!IsAccessSize(size)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("access rules: %s is %u, not 1, 2, 4 or 8", name, size));
    }
  }
  if (min_size > max_size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("access rules: min_size %u above max_size %u", min_size, max_size));
  }
  if (impl_min_size > impl_max_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "access rules: impl_min_size %u above impl_max_size %u", impl_min_size, impl_max_size));
  }
  return absl::OkStatus();
}

}  // namespace dbs
