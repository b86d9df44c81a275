// base/internal/schema_fields.h — the field kinds of base/schema.h and the decoder's view of
// a message. A field kind is any struct with
//   void Encode(const T&, Presence, wire::Writer&) const;
//   bool Decode(const FieldList&, T&, Error&) const;   // false with `error` set
// so a layer above may add kinds of its own (resources/ adds the Resource list).

#ifndef DBS_DEVICE_BASE_INTERNAL_SCHEMA_FIELDS_H_
#define DBS_DEVICE_BASE_INTERNAL_SCHEMA_FIELDS_H_

#include <array>
#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "dbs_device/base/wire.h"

namespace dbs::schema_internal {

enum class Presence {
  kExplicit,  // every field written, zeros too (proto3 `optional`)
  kImplicit,  // zeros and empty bytes left out (plain proto3)
};

// What a Check rule reports: the field at fault and why.
struct Invalid {
  const char* field;
  std::string why;
};

// The first failure of a decode: the path of the field ("accesses.kind": the field kind of
// an element of the repeated field accesses) and why; or, for
// bytes that are no protocol buffer, the reader's reason.
struct Error {
  std::string path;
  std::string why;
  size_t bytes = 0;  // the size of the message that did not parse
  bool parse = false;

  bool Fail(absl::string_view field, std::string reason) {
    path = std::string(field);
    why = std::move(reason);
    return false;
  }
  absl::Status ToStatus(absl::string_view what) const {
    if (parse) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " of ", bytes, " bytes does not parse (", why, ")"));
    }
    return absl::InvalidArgumentError(absl::StrCat(what, ", field ", path, ": ", why));
  }
};

// A message split into its fields, for the field kinds to look theirs up.
class FieldList {
 public:
  bool Parse(absl::string_view bytes, Error& error) {
    wire::Reader reader(bytes);
    wire::Field field;
    while (reader.Next(field)) fields_.push_back(field);
    if (reader.status().ok()) return true;
    error.parse = true;
    error.bytes = bytes.size();
    error.why = std::string(reader.status().message());
    return false;
  }
  // The last field numbered `number` with wire type `type` (the one protobuf keeps), or
  // null. A field of the number with another wire type is an unknown field, as in protobuf.
  const wire::Field* Last(uint32_t number, wire::WireType type) const {
    for (size_t i = fields_.size(); i-- > 0;) {
      if (fields_[i].number == number && fields_[i].type == type) return &fields_[i];
    }
    return nullptr;
  }
  // Every field, in the order of the bytes.
  absl::Span<const wire::Field> all() const { return fields_; }
  template <typename F>
  bool ForEach(uint32_t number, wire::WireType type, F&& f) const {
    for (const wire::Field& field : fields_) {
      if (field.number == number && field.type == type && !f(field)) return false;
    }
    return true;
  }

 private:
  absl::InlinedVector<wire::Field, 16> fields_;
};

// Decodes `bytes` into `value` by `schema`, overwriting only what the bytes hold.
template <typename Schema, typename T>
bool DecodeMessage(const Schema& schema, absl::string_view bytes, T& value, Error& error) {
  FieldList fields;
  return fields.Parse(bytes, error) && schema.DecodeFields(fields, value, error);
}

// A nested message's failure, as a failure of the field holding it.
inline bool Nest(Error& error, absl::string_view field) {
  error.path = error.parse ? std::string(field) : absl::StrCat(field, ".", error.path);
  if (error.parse) error.why = absl::StrCat("does not parse (", error.why, ")");
  error.parse = false;
  return false;
}

template <typename M>
concept StrongInteger = requires(const M& m) {
  { m.raw_value() } -> std::unsigned_integral;
};

// The raw integer type a member is carried as.
template <typename M>
struct RawOf {
  using type = M;
};
template <typename M>
requires StrongInteger<M>
struct RawOf<M> {
  using type = typename M::RawType;
};
template <typename M>
requires std::is_enum_v<M>
struct RawOf<M> {
  using type = std::underlying_type_t<M>;
};

// A member as the unsigned value protobuf carries, and back (false when it does not fit).
template <typename M>
uint64_t ToRaw(const M& m) {
  if constexpr (StrongInteger<M>) {
    return m.raw_value();
  } else {
    return static_cast<uint64_t>(static_cast<typename RawOf<M>::type>(m));
  }
}
template <typename M>
bool FromRaw(uint64_t raw, M& m, absl::string_view field, Error& error) {
  if constexpr (std::is_same_v<M, bool>) {
    m = raw != 0;
    return true;
  } else {
    using Raw = typename RawOf<M>::type;
    if (raw > static_cast<uint64_t>(std::numeric_limits<Raw>::max())) {
      return error.Fail(field, absl::StrCat(raw, " does not fit in ", sizeof(Raw) * 8, " bits"));
    }
    m = M(static_cast<Raw>(raw));
    return true;
  }
}

template <typename Member>
struct UintField {
  uint32_t number;
  const char* name;
  Member member;

  template <typename T>
  void Encode(const T& value, Presence presence, wire::Writer& out) const {
    const uint64_t raw = ToRaw(std::invoke(member, value));
    if (presence == Presence::kImplicit && raw == 0) return;
    out.Varint(number, raw);
  }
  template <typename T>
  bool Decode(const FieldList& fields, T& value, Error& error) const {
    const wire::Field* f = fields.Last(number, wire::WireType::kVarint);
    return f == nullptr || FromRaw(f->value, std::invoke(member, value), name, error);
  }
};

template <typename Member>
struct IntField {
  uint32_t number;
  const char* name;
  Member member;

  template <typename T>
  void Encode(const T& value, Presence presence, wire::Writer& out) const {
    const auto v = static_cast<int64_t>(std::invoke(member, value));
    if (presence == Presence::kImplicit && v == 0) return;
    out.Varint(number, static_cast<uint64_t>(v));
  }
  template <typename T>
  bool Decode(const FieldList& fields, T& value, Error& error) const {
    const wire::Field* f = fields.Last(number, wire::WireType::kVarint);
    if (f == nullptr) return true;
    auto& m = std::invoke(member, value);
    using M = std::remove_reference_t<decltype(m)>;
    const auto v = static_cast<int64_t>(f->value);
    if (v < std::numeric_limits<M>::min() || v > std::numeric_limits<M>::max()) {
      return error.Fail(name, absl::StrCat(v, " does not fit in ", sizeof(M) * 8, " bits"));
    }
    m = static_cast<M>(v);
    return true;
  }
};

template <typename Member>
struct BytesField {
  uint32_t number;
  const char* name;
  Member member;

  template <typename T>
  void Encode(const T& value, Presence presence, wire::Writer& out) const {
    const auto& m = std::invoke(member, value);
    if (presence == Presence::kImplicit && m.empty()) return;
    out.Bytes(number, absl::string_view(reinterpret_cast<const char*>(m.data()), m.size()));
  }
  template <typename T>
  bool Decode(const FieldList& fields, T& value, Error& error) const {
    const wire::Field* f = fields.Last(number, wire::WireType::kLengthDelimited);
    if (f == nullptr) return true;
    auto& m = std::invoke(member, value);
    using M = std::remove_reference_t<decltype(m)>;
    if constexpr (requires { m.assign(f->bytes.begin(), f->bytes.end()); }) {
      m.assign(f->bytes.begin(), f->bytes.end());
    } else {
      if (f->bytes.size() != m.size()) {
        return error.Fail(name, absl::StrCat(f->bytes.size(), " bytes, not ", m.size()));
      }
      for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<typename M::value_type>(f->bytes[i]);
    }
    return true;
  }
};

template <typename Member>
struct NestedField {
  uint32_t number;
  const char* name;
  Member member;

  template <typename T>
  void Encode(const T& value, Presence, wire::Writer& out) const {
    const auto& m = std::invoke(member, value);
    using M = std::remove_cvref_t<decltype(m)>;
    out.Message(number, [&](wire::Writer& inner) { M::Schema().EncodeFields(m, inner); });
  }
  template <typename T>
  bool Decode(const FieldList& fields, T& value, Error& error) const {
    const wire::Field* f = fields.Last(number, wire::WireType::kLengthDelimited);
    if (f == nullptr) return true;
    auto& m = std::invoke(member, value);
    using M = std::remove_cvref_t<decltype(m)>;
    return DecodeMessage(M::Schema(), f->bytes, m, error) || Nest(error, name);
  }
};

// The element schema of a Repeated field: E::Schema(), or one given.
struct FromElement {};

template <typename Member, typename ElementSchema = FromElement>
struct RepeatedField {
  uint32_t number;
  const char* name;
  Member member;
  ElementSchema element_schema{};

  template <typename E>
  constexpr auto SchemaOf() const {
    if constexpr (std::is_same_v<ElementSchema, FromElement>) {
      return E::Schema();
    } else {
      return element_schema;
    }
  }
  template <typename T>
  void Encode(const T& value, Presence, wire::Writer& out) const {
    for (const auto& element : std::invoke(member, value)) {
      using E = std::remove_cvref_t<decltype(element)>;
      out.Message(number, [&](wire::Writer& inner) { SchemaOf<E>().EncodeFields(element, inner); });
    }
  }
  template <typename T>
  bool Decode(const FieldList& fields, T& value, Error& error) const {
    auto& list = std::invoke(member, value);
    using E = typename std::remove_cvref_t<decltype(list)>::value_type;
    return fields.ForEach(number, wire::WireType::kLengthDelimited, [&](const wire::Field& f) {
      E element{};
      if (!DecodeMessage(SchemaOf<E>(), f.bytes, element, error)) {
        return Nest(error, name);
      }
      list.push_back(std::move(element));
      return true;
    });
  }
};

template <typename Member>
struct SecondsField {
  uint32_t number;  // the seconds; number + 1 the nanoseconds
  const char* name;
  Member member;

  template <typename T>
  void Encode(const T& value, Presence presence, wire::Writer& out) const {
    const auto& m = std::invoke(member, value);
    int64_t seconds, nanos;
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(m)>, absl::Time>) {
      seconds = absl::ToUnixSeconds(m);
      nanos = absl::ToInt64Nanoseconds(m - absl::FromUnixSeconds(seconds));
    } else {
      seconds = absl::ToInt64Seconds(m);
      nanos = absl::ToInt64Nanoseconds(m - absl::Seconds(seconds));
    }
    if (presence == Presence::kExplicit || seconds != 0) {
      out.Varint(number, static_cast<uint64_t>(seconds));
    }
    // As an int32: negative nanoseconds are sign-extended, as protobuf writes them.
    if (presence == Presence::kExplicit || nanos != 0) {
      out.Varint(number + 1, static_cast<uint64_t>(int64_t{static_cast<int32_t>(nanos)}));
    }
  }
  template <typename T>
  bool Decode(const FieldList& fields, T& value, Error& error) const {
    const wire::Field* s = fields.Last(number, wire::WireType::kVarint);
    const wire::Field* n = fields.Last(number + 1, wire::WireType::kVarint);
    if (s == nullptr && n == nullptr) return true;
    const int64_t seconds = s == nullptr ? 0 : static_cast<int64_t>(s->value);
    const int64_t nanos = n == nullptr ? 0 : static_cast<int64_t>(n->value);
    if (nanos <= -1'000'000'000 || nanos >= 1'000'000'000) {
      return error.Fail(name, absl::StrCat(nanos, " nanoseconds, not below one second"));
    }
    auto& m = std::invoke(member, value);
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(m)>, absl::Time>) {
      m = absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
    } else {
      m = absl::Seconds(seconds) + absl::Nanoseconds(nanos);
    }
    return true;
  }
};

template <typename Get, typename Set>
struct ComputedField {
  uint32_t number;
  const char* name;
  Get get;  // int64_t(const T&), or std::string(const T&) for bytes
  Set set;  // void(T&, value), or std::optional<Invalid>(T&, absl::string_view bytes)

  template <typename T>
  void Encode(const T& value, Presence presence, wire::Writer& out) const {
    const auto v = get(value);
    if constexpr (std::is_integral_v<decltype(v)>) {
      if (presence == Presence::kImplicit && v == 0) return;
      out.Varint(number, static_cast<uint64_t>(static_cast<int64_t>(v)));
    } else {
      if (presence == Presence::kImplicit && v.empty()) return;
      out.Bytes(number, v);
    }
  }
  // An integer is set only when present; bytes are always passed on (empty when absent),
  // so that a setter may check them against another field.
  template <typename T>
  bool Decode(const FieldList& fields, T& value, Error& error) const {
    if constexpr (std::is_integral_v<decltype(get(value))>) {
      const wire::Field* f = fields.Last(number, wire::WireType::kVarint);
      if (f != nullptr) set(value, static_cast<int64_t>(f->value));
      return true;
    } else {
      const wire::Field* f = fields.Last(number, wire::WireType::kLengthDelimited);
      std::optional<Invalid> bad = set(value, f == nullptr ? absl::string_view() : f->bytes);
      return !bad.has_value() || error.Fail(bad->field, std::move(bad->why));
    }
  }
};

template <typename Rule>
struct CheckField {
  Rule rule;

  template <typename T>
  void Encode(const T&, Presence, wire::Writer&) const {}
  template <typename T>
  bool Decode(const FieldList&, T& value, Error& error) const {
    std::optional<Invalid> bad = rule(static_cast<const T&>(value));
    return !bad.has_value() || error.Fail(bad->field, std::move(bad->why));
  }
};

}  // namespace dbs::schema_internal

#endif  // DBS_DEVICE_BASE_INTERNAL_SCHEMA_FIELDS_H_
