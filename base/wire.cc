#include "dbs_device/base/wire.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace dbs::wire {
namespace {

constexpr int kMaxGroupDepth = 100;
constexpr uint32_t kMaxFieldNumber = (uint32_t{1} << 29) - 1;

}  // namespace

int VarintSize(uint64_t value) {
  int n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

void Writer::PutVarint(uint64_t value) {
  while (value >= 0x80) {
    out_.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out_.push_back(static_cast<char>(value));
}

void Writer::Tag(uint32_t number, WireType type) {
  PutVarint((uint64_t{number} << 3) | static_cast<uint32_t>(type));
}

void Writer::Varint(uint32_t number, uint64_t value) {
  Tag(number, WireType::kVarint);
  PutVarint(value);
}

void Writer::Bytes(uint32_t number, absl::string_view bytes) {
  Tag(number, WireType::kLengthDelimited);
  PutVarint(bytes.size());
  out_.append(bytes.data(), bytes.size());
}

void Writer::PrefixLength(size_t start) {
  const uint64_t length = out_.size() - start;
  char prefix[10];
  int n = 0;
  for (uint64_t v = length;; v >>= 7) {
    prefix[n++] = static_cast<char>((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    if (v < 0x80) break;
  }
  out_.insert(start, prefix, n);
}

bool Reader::Fail(absl::string_view why) {
  status_ = absl::InvalidArgumentError(absl::StrCat("malformed protocol buffer: ", why));
  rest_ = {};
  return false;
}

bool Reader::ReadVarint(uint64_t& value) {
  value = 0;
  for (int i = 0; i < 10; ++i) {
    if (rest_.empty()) return Fail("a varint runs past the end");
    const auto byte = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    value |= uint64_t{byte & 0x7fu} << (7 * i);
    if ((byte & 0x80) == 0) return true;
  }
  return Fail("a varint longer than 10 bytes");
}

bool Reader::ReadOne(Field& field, int depth) {
  uint64_t tag;
  if (!ReadVarint(tag)) return false;
  if (tag >> 3 == 0 || tag >> 3 > kMaxFieldNumber) return Fail("a field numbered 0 or past 2^29");
  field.number = static_cast<uint32_t>(tag >> 3);
  field.type = static_cast<WireType>(tag & 7);
  field.value = 0;
  field.bytes = {};
  switch (field.type) {
    case WireType::kVarint:
      return ReadVarint(field.value);
    case WireType::kFixed64:
    case WireType::kFixed32: {
      const size_t n = field.type == WireType::kFixed64 ? 8 : 4;
      if (rest_.size() < n) return Fail("a fixed-width field runs past the end");
      for (size_t i = 0; i < n; ++i)
        field.value |= uint64_t{static_cast<uint8_t>(rest_[i])} << (8 * i);
      rest_.remove_prefix(n);
      return true;
    }
    case WireType::kLengthDelimited: {
      uint64_t length;
      if (!ReadVarint(length)) return false;
      if (length > rest_.size()) return Fail("a length-delimited field runs past the end");
      field.bytes = rest_.substr(0, length);
      rest_.remove_prefix(length);
      return true;
    }
    case WireType::kStartGroup:
      return SkipGroup(field.number, depth + 1);
    case WireType::kEndGroup:
      return Fail("an end-group tag without its start");
  }
  return Fail(absl::StrCat("wire type ", tag & 7));
}

bool Reader::SkipGroup(uint32_t number, int depth) {
  if (depth > kMaxGroupDepth) return Fail("groups nested past 100");
  while (!rest_.empty()) {
    const absl::string_view before = rest_;
    uint64_t tag;
    if (!ReadVarint(tag)) return false;
    if ((tag & 7) == static_cast<uint64_t>(WireType::kEndGroup)) {
      if (tag >> 3 != number) return Fail("an end-group tag for another group");
      return true;
    }
    rest_ = before;
    Field inner;
    if (!ReadOne(inner, depth)) return false;
  }
  return Fail("a group without its end");
}

bool Reader::Next(Field& field) {
  while (!rest_.empty()) {
    if (!ReadOne(field, 0)) return false;
    if (field.type != WireType::kStartGroup) return true;
    // A group was skipped whole: an unknown field of a deprecated kind.
  }
  return false;
}

}  // namespace dbs::wire
