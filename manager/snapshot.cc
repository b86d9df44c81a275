#include "dbs_device/manager/snapshot.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dbs_device/base/crc32c.h"
#include "dbs_device/base/schema.h"
#include "dbs_device/base/wire.h"
#include "dbs_device/resources/internal/resource_kinds.h"

namespace dbs {

using resources_internal::Held;
using resources_internal::ResourceKind;
using resources_internal::ResourcePool;

namespace {

template <typename W>
struct IsScalarWire : std::false_type {};
template <typename M>
struct IsScalarWire<resources_internal::ScalarWire<M>> : std::true_type {};
template <typename W>
struct IsBytesWire : std::false_type {};
template <typename M>
struct IsBytesWire<resources_internal::BytesWire<M>> : std::true_type {};

constexpr absl::string_view kMagic = "dbs-snap";
constexpr absl::string_view kWriter = "dbs_device 0.1.0";

// REQUIRES: bytes <= 8.
void PutLe(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
}

uint64_t GetLe(absl::string_view in, size_t at, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= uint64_t{static_cast<uint8_t>(in[at + i])} << (8 * i);
  return value;
}

// --- A Resource as its snapshot message: one field, numbered by its kind ---------------

// Calls f(ResourceKind<K>{}, std::type_identity<K>{}) for each kind K of Resource.
template <typename F>
void ForEachKind(F&& f) {
  [&]<size_t... I>(std::index_sequence<I...>) {
    (f(ResourceKind<std::variant_alternative_t<I, Resource>>{},
       std::type_identity<std::variant_alternative_t<I, Resource>>{}),
     ...);
  }
  (std::make_index_sequence<std::variant_size_v<Resource>>{});
}

template <typename Wire>
constexpr wire::WireType WireTypeOf() {
  if constexpr (IsScalarWire<Wire>::value) {
    return wire::WireType::kVarint;
  } else {
    return wire::WireType::kLengthDelimited;
  }
}

void EncodeResource(const Resource& resource, wire::Writer& out) {
  resources_internal::VisitKind(resource, [&](auto kind, const auto& value) {
    constexpr auto kWire = decltype(kind)::Wire();
    using Wire = std::remove_cvref_t<decltype(kWire)>;
    if constexpr (IsScalarWire<Wire>::value) {
      // A oneof member is written even when zero.
      out.Varint(kind.kField, schema_internal::ToRaw(std::invoke(kWire.member, value)));
    } else if constexpr (IsBytesWire<Wire>::value) {
      const auto& bytes = std::invoke(kWire.member, value);
      out.Bytes(kind.kField,
                absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    } else {
      out.Message(kind.kField, [&](wire::Writer& inner) { kWire.EncodeFields(value, inner); });
    }
  });
}

// The Resource the message `fields` holds: its last field of a known kind (protobuf's
// rule for a oneof), checked to lie in its space.
bool DecodeResource(const schema_internal::FieldList& fields, Resource& out,
                    schema_internal::Error& error) {
  const wire::Field* chosen = nullptr;
  for (const wire::Field& field : fields.all()) {
    ForEachKind([&](auto kind, auto) {
      if (field.number == kind.kField &&
          field.type == WireTypeOf<std::remove_cvref_t<decltype(kind.Wire())>>()) {
        chosen = &field;
      }
    });
  }
  if (chosen == nullptr)
    return error.Fail("kind", "a resource of a kind this version does not know");
  bool ok = true;
  ForEachKind([&](auto kind, auto type) {
    using K = typename decltype(type)::type;
    if (chosen->number != kind.kField) return;
    constexpr auto kWire = decltype(kind)::Wire();
    using Wire = std::remove_cvref_t<decltype(kWire)>;
    K value{};
    if constexpr (IsScalarWire<Wire>::value) {
      ok = schema_internal::FromRaw(chosen->value, std::invoke(kWire.member, value), kind.kName,
                                    error);
    } else if constexpr (IsBytesWire<Wire>::value) {
      auto& bytes = std::invoke(kWire.member, value);
      if (chosen->bytes.size() != bytes.size()) {
        ok = error.Fail(kind.kName,
                        absl::StrCat(chosen->bytes.size(), " bytes, not ", bytes.size()));
      } else {
        std::memcpy(bytes.data(), chosen->bytes.data(), bytes.size());
      }
    } else {
      ok = schema_internal::DecodeMessage(kWire, chosen->bytes, value, error) ||
           schema_internal::Nest(error, kind.kName);
    }
    if (!ok) return;
    if (absl::Status valid = Validate(value); !valid.ok()) {
      ok = error.Fail(kind.kName, std::string(valid.message()));
      return;
    }
    out = value;
  });
  return ok;
}

// A DeviceResources field of a record: each resource a Resource message.
template <typename Member>
struct ResourceListField {
  uint32_t number;
  const char* name;
  Member member;

  template <typename T>
  void Encode(const T& value, schema::Presence, wire::Writer& out) const {
    for (const Resource& r : std::invoke(member, value)) {
      out.Message(number, [&](wire::Writer& inner) { EncodeResource(r, inner); });
    }
  }
  template <typename T>
  bool Decode(const schema_internal::FieldList& fields, T& value,
              schema_internal::Error& error) const {
    DeviceResources& list = std::invoke(member, value);
    return fields.ForEach(number, wire::WireType::kLengthDelimited, [&](const wire::Field& f) {
      schema_internal::FieldList resource;
      Resource r;
      if (!resource.Parse(f.bytes, error) || !DecodeResource(resource, r, error)) {
        return schema_internal::Nest(error, name);
      }
      list.Append(r);
      return true;
    });
  }
};
template <typename Member>
constexpr ResourceListField<Member> ResourceList(uint32_t number, const char* name, Member member) {
  return {number, name, member};
}

constexpr auto DeviceRecordSchema() {
  namespace s = schema;
  using D = DeviceRecord;
  return s::Message<D>(
      "device", s::Presence::kImplicit, s::Uint(1, "id", &D::id), s::Bytes(2, "name", &D::name),
      s::Bytes(3, "kind", &D::kind), ResourceList(4, "allocated", &D::allocated),
      ResourceList(5, "registered", &D::registered),
      s::Uint(6, "shared_legacy_irq", &D::shared_legacy_irq), s::Bytes(7, "state", &D::state));
}

// The payload: who wrote it (for people), the next id, the devices by ascending id.
constexpr auto PayloadSchema() {
  namespace s = schema;
  using P = DeviceManagerSnapshot;
  return s::Message<P>(
      "snapshot payload", s::Presence::kImplicit,
      s::Computed(
          1, "writer", [](const P&) { return std::string(kWriter); },
          [](P&, absl::string_view) -> std::optional<s::Invalid> { return std::nullopt; }),
      s::Uint(2, "next_id", &P::next_id),
      s::Repeated(3, "devices", &P::devices, DeviceRecordSchema()));
}

std::string Describe(const DeviceRecord& d) {
  return absl::StrCat("device ", d.id, " (", d.name, ")");
}

// --- Consistency of a decoded snapshot ---

// What a decoded (and so validated) resource holds.
std::optional<Held> HeldOf(const Resource& resource) {
  absl::StatusOr<std::optional<Held>> held = resources_internal::HeldBy(resource);
  return held.ok() ? *held : std::nullopt;
}

absl::Status CheckConsistent(const DeviceManagerSnapshot& s) {
  struct Holding {
    Held held;
    size_t device;
    const Resource* resource;
  };
  std::vector<Holding> holdings;
  std::vector<DeviceId> ids;
  for (size_t i = 0; i < s.devices.size(); ++i) {
    const DeviceRecord& d = s.devices[i];
    if (d.id == 0 || d.id >= s.next_id) {
      return absl::InvalidArgumentError(
          absl::StrCat(Describe(d), ": the id is 0 or not below ", "the next id, ", s.next_id));
    }
    ids.push_back(d.id);
    for (const Resource& r : d.allocated) {
      if (std::optional<Held> h = HeldOf(r)) holdings.push_back({*h, i, &r});
    }
    for (const Resource& r : d.registered) {
      const std::optional<Held> h = HeldOf(r);
      const bool io = std::holds_alternative<PioRange>(r) || std::holds_alternative<MmioRange>(r);
      const bool inside =
          io && std::any_of(d.allocated.begin(), d.allocated.end(), [&](const Resource& a) {
            const std::optional<Held> ah = HeldOf(a);
            return ah && ah->pool == h->pool && ah->first <= h->first && h->last <= ah->last;
          });
      if (!inside) {
        return absl::InvalidArgumentError(absl::StrCat(
            Describe(d), ": registered ", ToString(r),
            io ? " lies in none of its allocated ranges" : " is not a PIO or MMIO range"));
      }
    }
  }
  std::sort(ids.begin(), ids.end());
  if (auto dup = std::adjacent_find(ids.begin(), ids.end()); dup != ids.end()) {
    return absl::InvalidArgumentError(absl::StrCat("two devices have the id ", *dup));
  }
  std::sort(holdings.begin(), holdings.end(), [](const Holding& a, const Holding& b) {
    return std::tie(a.held.pool, a.held.first) < std::tie(b.held.pool, b.held.first);
  });
  for (size_t i = 1; i < holdings.size(); ++i) {
    // Sorted by start: the first element that overlaps an earlier one overlaps its left
    // neighbour, which reaches furthest of the (disjoint) elements before it.
    const Holding& a = holdings[i - 1];
    const Holding& b = holdings[i];
    if (a.held.pool != b.held.pool || a.held.last < b.held.first) continue;
    const DeviceRecord& da = s.devices[a.device];
    const DeviceRecord& db = s.devices[b.device];
    const bool shared_irq = a.held.pool == ResourcePool::kLegacyIrq && da.shared_legacy_irq &&
                            db.shared_legacy_irq && a.device != b.device;
    if (shared_irq) continue;
    return absl::AlreadyExistsError(absl::StrCat(Describe(da), " holds ", ToString(*a.resource),
                                                 " and ", Describe(db), " holds ",
                                                 ToString(*b.resource), ": they overlap"));
  }
  return absl::OkStatus();
}

// The header of a `kind` payload, its length and checksum zero until Reseal, with room
// reserved for `payload_size` bytes after it.
std::string Header(absl::string_view kind, size_t payload_size) {
  std::string out;
  out.reserve(kSnapshotHeaderSize + payload_size);
  out.append(kMagic.data(), kMagic.size());
  PutLe(out, kSnapshotFormatVersion, 4);
  out.append(kind.data(), 4);
  PutLe(out, 0, 8);  // the length
  PutLe(out, 0, 8);  // the checksum, then reserved
  return out;
}

// Writes the payload length and the checksum of the header and the payload behind it.
void Reseal(std::string& sealed) {
  const uint64_t length = sealed.size() - kSnapshotHeaderSize;
  for (int i = 0; i < 8; ++i) sealed[16 + i] = static_cast<char>(length >> (8 * i));
  for (int i = 0; i < 4; ++i) sealed[24 + i] = 0;
  const uint32_t crc = internal::Crc32c(sealed);
  for (int i = 0; i < 4; ++i) sealed[24 + i] = static_cast<char>(crc >> (8 * i));
}

}  // namespace

std::string SealSnapshot(absl::string_view kind, absl::string_view payload) {
  std::string out = Header(kind, payload.size());
  out.append(payload.data(), payload.size());
  Reseal(out);
  return out;
}

absl::StatusOr<absl::string_view> UnsealSnapshot(absl::string_view bytes, absl::string_view kind) {
  if (bytes.size() < kSnapshotHeaderSize) {
    return absl::DataLossError(absl::StrCat("snapshot truncated: ", bytes.size(),
                                            " bytes, fewer than its 32-byte header"));
  }
  if (bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError("not a dbs_device snapshot: the magic is not \"dbs-snap\"");
  }
  const uint64_t version = GetLe(bytes, 8, 4);
  if (version != kSnapshotFormatVersion) {
    return absl::UnimplementedError(absl::StrCat("snapshot format version ", version,
                                                 "; this reader knows version ",
                                                 kSnapshotFormatVersion));
  }
  const uint64_t length = GetLe(bytes, 16, 8);
  const uint64_t present = bytes.size() - kSnapshotHeaderSize;
  if (length != present) {
    return absl::DataLossError(
        absl::StrCat(length > present ? "snapshot truncated" : "snapshot has trailing bytes",
                     ": its header says ", length, " payload bytes, ", present, " follow"));
  }
  const absl::string_view payload = bytes.substr(kSnapshotHeaderSize);
  const uint32_t stored = static_cast<uint32_t>(GetLe(bytes, 24, 4));
  std::string header(bytes.substr(0, kSnapshotHeaderSize));
  std::fill(header.begin() + 24, header.begin() + 28, '\0');
  const uint32_t computed = internal::Crc32cExtend(internal::Crc32c(header), payload);
  if (stored != computed) {
    return absl::DataLossError(absl::StrFormat(
        "snapshot corrupt: CRC-32C 0x%08x stored, 0x%08x computed", stored, computed));
  }
  if (bytes.substr(12, 4) != kind) {
    return absl::InvalidArgumentError(absl::StrCat("the snapshot holds a \"", bytes.substr(12, 4),
                                                   "\" payload, not \"", kind, "\""));
  }
  return payload;
}

std::string EncodeDeviceManagerSnapshot(const DeviceManagerSnapshot& snapshot) {
  std::string sealed = Header(kDeviceManagerPayload, snapshot.devices.size() * 96);
  wire::Writer writer(sealed);  // the payload straight behind the header: never copied
  PayloadSchema().EncodeFields(snapshot, writer);
  Reseal(sealed);
  return sealed;
}

absl::StatusOr<DeviceManagerSnapshot> DecodeDeviceManagerSnapshot(absl::string_view bytes) {
  absl::StatusOr<absl::string_view> payload = UnsealSnapshot(bytes, kDeviceManagerPayload);
  if (!payload.ok()) return payload.status();
  DeviceManagerSnapshot out;
  schema_internal::Error error;
  if (!schema_internal::DecodeMessage(PayloadSchema(), *payload, out, error)) {
    return error.ToStatus("snapshot payload");
  }
  if (absl::Status status = CheckConsistent(out); !status.ok()) return status;
  return out;
}

}  // namespace dbs
