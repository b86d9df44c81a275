#include "dbs_device/bus/bus_range.h"

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace dbs {

const char* AddressSpaceName(AddressSpace space) {
  return space == AddressSpace::kPio ? "PIO" : "MMIO";
}

std::string ToString(const BusRange& range) {
  if (range.size == 0 || range.base + (range.size - 1) < range.base) {
    return absl::StrFormat("%s %#x+%#x", AddressSpaceName(range.space), range.base, range.size);
  }
  return absl::StrFormat("%s [%#x, %#x]", AddressSpaceName(range.space), range.base, range.last());
}

absl::Status ValidateBusRange(const BusRange& range) {
  if (range.size == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s range at %#x has size 0", AddressSpaceName(range.space), range.base));
  }
  const bool wraps = range.base + (range.size - 1) < range.base;
  const bool past_pio = range.space == AddressSpace::kPio &&
                        (range.base >= 0x10000 || range.size > 0x10000 - range.base);
  if (wraps || past_pio) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s range %#x+%#x runs past the end of the space (%s)", AddressSpaceName(range.space),
        range.base, range.size, range.space == AddressSpace::kPio ? "0x10000" : "2^64"));
  }
  return absl::OkStatus();
}

absl::Status LookupError(LookupOutcome outcome, AddressSpace space, uint64_t address,
                         uint64_t length, const BusRange* range) {
  const char* name = AddressSpaceName(space);
  switch (outcome) {
    case LookupOutcome::kHit:
      return absl::OkStatus();
    case LookupOutcome::kZeroLength:
      return absl::InvalidArgumentError(
          absl::StrFormat("%s access of length 0 at %#x", name, address));
    case LookupOutcome::kPastEnd:
      return absl::OutOfRangeError(
          absl::StrFormat("%s access %#x+%#x runs past the end of %s", name, address, length,
                          range != nullptr ? ToString(*range) : std::string("its range")));
    case LookupOutcome::kNoRange:
      break;
  }
  // The common error (a guest probing ports nobody decodes), so formatted by hand: about
  // five times cheaper than StrFormat.
  char text[64];
  char* p = text;
  auto append = [&p](const char* s) {
    while (*s != '\0') *p++ = *s++;
  };
  append("no device at ");
  append(name);
  append(" address 0x");
  char digits[16];
  int n = 0;
  do {
    digits[n++] = "0123456789abcdef"[address & 0xf];
    address >>= 4;
  } while (address != 0);
  while (n > 0) *p++ = digits[--n];
  return absl::NotFoundError(absl::string_view(text, p - text));
}

}  // namespace dbs
