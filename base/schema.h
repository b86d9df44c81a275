// base/schema.h — a struct's fields declared once, as a table, and written to and read from
// protocol-buffer bytes (base/wire.h) by that table.
//
// A device's state (and each record of a snapshot) is a plain struct. Its table names each
// field's number, its name (for error messages) and the member it is. The table is a
// static member function, defined after the struct, where the struct is complete:
//
//   struct Uart {
//     uint8_t ier = 0;
//     uint8_t mcr = 0x08;  // the power-on value
//     std::array<uint8_t, 16> fifo{};
//     static constexpr auto Schema();
//   };
//   constexpr auto Uart::Schema() {
//     namespace s = dbs::schema;
//     return s::Message<Uart>("uart state", s::Presence::kExplicit,
//                             s::Uint(2, "ier", &Uart::ier), s::Uint(6, "mcr", &Uart::mcr),
//                             s::Bytes(11, "fifo", &Uart::fifo));
//   }
//   std::string bytes = dbs::schema::Encode(uart);
//   absl::StatusOr<Uart> back = dbs::schema::Decode<Uart>(bytes);
//
// RULES, the ones a snapshot format needs (the snapshot's versioning rules, manager/
// snapshot.h, follow from them):
// - Fields are written in the table's order, which must be ascending by number (as protobuf
//   writes them, so the bytes equal protobuf's for the same .proto).
// - Decoding starts from a default-constructed struct and overwrites only the fields the
//   bytes hold: a field a snapshot lacks keeps its default (a device's power-on value).
// - Fields the table does not know are skipped, so a later version may add fields.
// - Presence::kExplicit writes every field, even a zero (proto3 `optional`);
//   kImplicit leaves out zeros and empty bytes (plain proto3 fields).
// - A value that does not fit its member, a fixed-size array of another length, or a
//   failed Check is kInvalidArgument naming the struct and the field.
//
// Field kinds: Uint (unsigned integers, bool, enums, and strong integer types with
// raw_value()), Int (int32/int64, two's complement as protobuf's int32/int64), Bytes
// (std::string, std::vector<uint8_t>, std::array<uint8_t, N>), Nested and Repeated (a
// struct with its own Schema(), once or as a std::vector), Seconds (absl::Duration or
// absl::Time as seconds and nanoseconds in two fields, google.protobuf.Duration's way),
// Computed (an int64 computed from the struct and written back through a setter) and
// Check (a rule over the decoded struct).
//
// Cost: encoding and decoding are linear in the bytes. Thread-safety: pure functions.

#ifndef DBS_DEVICE_BASE_SCHEMA_H_
#define DBS_DEVICE_BASE_SCHEMA_H_

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dbs_device/base/internal/schema_fields.h"
#include "dbs_device/base/wire.h"

namespace dbs::schema {

using schema_internal::Presence;

// The table of struct T: a name for messages, the presence rule, and its fields in
// ascending number.
template <typename T, typename... Fields>
struct MessageSchema {
  using Type = T;
  const char* name;
  Presence presence;
  std::tuple<Fields...> fields;

  void EncodeFields(const T& value, wire::Writer& out) const {
    std::apply([&](const auto&... f) { (f.Encode(value, presence, out), ...); }, fields);
  }
  // Fills `value` from `message`'s fields; false (with `error` set) on the first failure.
  bool DecodeFields(const schema_internal::FieldList& message, T& value,
                    schema_internal::Error& error) const {
    return std::apply([&](const auto&... f) { return (f.Decode(message, value, error) && ...); },
                      fields);
  }
};

template <typename T, typename... Fields>
constexpr MessageSchema<T, Fields...> Message(const char* name, Presence presence,
                                              Fields... fields) {
  return {name, presence, {fields...}};
}

// The field kinds (see above). `member` is a pointer to member or a generic lambda
// returning a reference to the member (`[](auto& s) -> auto& { return s.counts.reads; }`).
template <typename Member>
constexpr schema_internal::UintField<Member> Uint(uint32_t number, const char* name,
                                                  Member member) {
  return {number, name, member};
}
template <typename Member>
constexpr schema_internal::IntField<Member> Int(uint32_t number, const char* name, Member member) {
  return {number, name, member};
}
template <typename Member>
constexpr schema_internal::BytesField<Member> Bytes(uint32_t number, const char* name,
                                                    Member member) {
  return {number, name, member};
}
template <typename Member>
constexpr schema_internal::NestedField<Member> Nested(uint32_t number, const char* name,
                                                      Member member) {
  return {number, name, member};
}
template <typename Member>
constexpr schema_internal::RepeatedField<Member> Repeated(uint32_t number, const char* name,
                                                          Member member) {
  return {number, name, member, {}};
}
// The same, with the elements' schema given (for an element type without Schema()).
template <typename Member, typename ElementSchema>
constexpr schema_internal::RepeatedField<Member, ElementSchema> Repeated(
    uint32_t number, const char* name, Member member, ElementSchema element_schema) {
  return {number, name, member, element_schema};
}
// `seconds` and `seconds + 1` hold the whole seconds (int64) and the nanoseconds (int32).
template <typename Member>
constexpr schema_internal::SecondsField<Member> Seconds(uint32_t seconds, const char* name,
                                                        Member member) {
  return {seconds, name, member};
}
template <typename Get, typename Set>
constexpr schema_internal::ComputedField<Get, Set> Computed(uint32_t number, const char* name,
                                                            Get get, Set set) {
  return {number, name, get, set};
}
// `rule(const T&)` returns std::nullopt, or the Invalid{field, why} it found.
template <typename Rule>
constexpr schema_internal::CheckField<Rule> Check(Rule rule) {
  return {rule};
}
using schema_internal::Invalid;

// The bytes of `value`, by T::Schema().
template <typename T>
std::string Encode(const T& value) {
  std::string out;
  wire::Writer writer(out);
  T::Schema().EncodeFields(value, writer);
  return out;
}

// The T `bytes` hold, by T::Schema() (see RULES).
template <typename T>
absl::StatusOr<T> Decode(absl::string_view bytes) {
  T value{};
  schema_internal::Error error;
  if (!schema_internal::DecodeMessage(T::Schema(), bytes, value, error)) {
    return error.ToStatus(T::Schema().name);
  }
  return value;
}

}  // namespace dbs::schema

#endif  // DBS_DEVICE_BASE_SCHEMA_H_
