#include "dbs_device/manager/snapshot.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dbs_device/base/crc32c.h"
#include "dbs_device/base/overloaded.h"
#include "google/protobuf/arena.h"
#include "manager/internal/snapshot.pb.h"

namespace dbs {

using internal::Overloaded;

namespace {

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

// --- Resources to and from their messages ---

void ToProto(const Resource& resource, snapshot::v1::Resource& out) {
  std::visit(Overloaded{
                 [&](const PioRange& r) {
                   out.mutable_pio()->set_base(r.base.raw_value());
                   out.mutable_pio()->set_size(r.size.raw_value());
                 },
                 [&](const MmioRange& r) {
                   out.mutable_mmio()->set_base(r.base.raw_value());
                   out.mutable_mmio()->set_size(r.size.raw_value());
                 },
                 [&](const MemRange& r) {
                   out.mutable_mem()->set_base(r.base.raw_value());
                   out.mutable_mem()->set_size(r.size.raw_value());
                 },
                 [&](const LegacyIrq& r) { out.set_legacy_irq(r.irq); },
                 [&](const MsiIrq& r) {
                   out.mutable_msi()->set_type(static_cast<uint32_t>(r.type));
                   out.mutable_msi()->set_base(r.base);
                   out.mutable_msi()->set_size(r.size);
                 },
                 [&](const MacAddress& r) {
                   out.set_mac_address(std::string(r.bytes.begin(), r.bytes.end()));
                 },
                 [&](const KvmMemSlot& r) { out.set_kvm_mem_slot(r.slot); },
             },
             resource);
}

// True if [base, base + size) is non-empty and ends at or before 2^64.
bool FitsIn64(uint64_t base, uint64_t size) { return size != 0 && base + (size - 1) >= base; }

absl::StatusOr<Resource> FromProto(const snapshot::v1::Resource& in) {
  using R = snapshot::v1::Resource;
  switch (in.kind_case()) {
    case R::kPio:
      if (in.pio().size() == 0 || in.pio().base() + uint64_t{in.pio().size()} > 0x10000) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "PIO range 0x%x+0x%x is empty or past 0xffff", in.pio().base(), in.pio().size()));
      }
      return PioRange{static_cast<uint16_t>(in.pio().base()),
                      static_cast<uint16_t>(in.pio().size())};
    case R::kMmio:
      if (!FitsIn64(in.mmio().base(), in.mmio().size())) {
        return absl::InvalidArgumentError(absl::StrFormat("MMIO range 0x%x+0x%x is empty or wraps",
                                                          in.mmio().base(), in.mmio().size()));
      }
      return MmioRange{in.mmio().base(), in.mmio().size()};
    case R::kMem:
      if (!FitsIn64(in.mem().base(), in.mem().size())) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "memory range 0x%x+0x%x is empty or wraps", in.mem().base(), in.mem().size()));
      }
      return MemRange{in.mem().base(), in.mem().size()};
    case R::kLegacyIrq:
      return LegacyIrq{in.legacy_irq()};
    case R::kMsi: {
      const auto& m = in.msi();
      if (m.type() > static_cast<uint32_t>(MsiIrqType::kGenericMsi) || m.size() == 0 ||
          m.base() + uint64_t{m.size()} - 1 > 0xffffffffu) {
        return absl::InvalidArgumentError(
            absl::StrFormat("MSI block type %u, 0x%x+0x%x is of no type or empty or wraps",
                            m.type(), m.base(), m.size()));
      }
      return MsiIrq{static_cast<MsiIrqType>(m.type()), m.base(), m.size()};
    }
    case R::kMacAddress: {
      MacAddress mac;
      if (in.mac_address().size() != mac.bytes.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("MAC address of ", in.mac_address().size(), " bytes"));
      }
      std::memcpy(mac.bytes.data(), in.mac_address().data(), mac.bytes.size());
      return mac;
    }
    case R::kKvmMemSlot:
      return KvmMemSlot{in.kvm_mem_slot()};
    case R::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("a resource of a kind this version does not know");
}

std::string Describe(const DeviceRecord& d) {
  return absl::StrCat("device ", d.id, " (", d.name, ")");
}

// The `which` list of device `d` into `out`.
absl::Status ReadResources(const google::protobuf::RepeatedPtrField<snapshot::v1::Resource>& list,
                           absl::string_view which, const DeviceRecord& d, DeviceResources& out) {
  out.Reserve(static_cast<size_t>(list.size()));
  for (int i = 0; i < list.size(); ++i) {
    absl::StatusOr<Resource> r = FromProto(list[i]);
    if (!r.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Describe(d), ", ", which, " resource ", i, ": ", r.status().message()));
    }
    out.Append(*std::move(r));
  }
  return absl::OkStatus();
}

// --- Consistency of a decoded snapshot ---

// The inclusive interval a resource takes in its pool; nullopt for a MAC address.
struct Held {
  int pool;  // PIO, MMIO, memory, legacy IRQ, MSI, KVM slot
  uint64_t first, last;
};

std::optional<Held> HeldBy(const Resource& resource) {
  return std::visit(
      Overloaded{
          [](const PioRange& r) -> std::optional<Held> {
            return Held{0, r.base.raw_value(), r.base.raw_value() + r.size.raw_value() - 1u};
          },
          [](const MmioRange& r) -> std::optional<Held> {
            return Held{1, r.base.raw_value(), r.base.raw_value() + r.size.raw_value() - 1};
          },
          [](const MemRange& r) -> std::optional<Held> {
            return Held{2, r.base.raw_value(), r.base.raw_value() + r.size.raw_value() - 1};
          },
          [](const LegacyIrq& r) -> std::optional<Held> {
            return Held{3, r.irq, r.irq};
          },
          [](const MsiIrq& r) -> std::optional<Held> {
            return Held{4, r.base, uint64_t{r.base} + r.size - 1};
          },
          [](const MacAddress&) -> std::optional<Held> { return std::nullopt; },
          [](const KvmMemSlot& r) -> std::optional<Held> {
            return Held{5, r.slot, r.slot};
          },
      },
      resource);
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
      if (std::optional<Held> h = HeldBy(r)) holdings.push_back({*h, i, &r});
    }
    for (const Resource& r : d.registered) {
      const std::optional<Held> h = HeldBy(r);
      const bool io = std::holds_alternative<PioRange>(r) || std::holds_alternative<MmioRange>(r);
      const bool inside =
          io && std::any_of(d.allocated.begin(), d.allocated.end(), [&](const Resource& a) {
            const std::optional<Held> ah = HeldBy(a);
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
    const bool shared_irq =
        a.held.pool == 3 && da.shared_legacy_irq && db.shared_legacy_irq && a.device != b.device;
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

// Messages live in an arena sized for the snapshot: one allocation per block instead of
// one per message, and all of them dropped at once.
google::protobuf::ArenaOptions ArenaFor(size_t bytes) {
  google::protobuf::ArenaOptions options;
  // A whole number of 4 KiB pages: the arena places 8-byte-aligned records at a block's end.
  const size_t pages = (std::clamp<size_t>(bytes, 1024, size_t{1} << 26) + 4095) / 4096;
  options.start_block_size = pages * 4096;
  options.max_block_size = std::max<size_t>(options.start_block_size, 8192);
  return options;
}

std::string EncodeDeviceManagerSnapshot(const DeviceManagerSnapshot& snapshot) {
  google::protobuf::Arena arena(ArenaFor(snapshot.devices.size() * 512));
  auto& m = *google::protobuf::Arena::CreateMessage<snapshot::v1::DeviceManagerSnapshot>(&arena);
  m.set_writer(std::string(kWriter));
  m.set_next_id(snapshot.next_id);
  m.mutable_devices()->Reserve(static_cast<int>(snapshot.devices.size()));
  for (const DeviceRecord& d : snapshot.devices) {
    snapshot::v1::Device* out = m.add_devices();
    out->set_id(d.id);
    out->set_name(d.name);
    out->set_kind(d.kind);
    out->set_state(d.state);
    out->set_shared_legacy_irq(d.shared_legacy_irq);
    for (const Resource& r : d.allocated) ToProto(r, *out->add_allocated());
    for (const Resource& r : d.registered) ToProto(r, *out->add_registered());
  }
  // Serialised straight behind the header: the payload is never copied.
  const size_t size = m.ByteSizeLong();
  std::string sealed = Header(kDeviceManagerPayload, size);
  sealed.resize(kSnapshotHeaderSize + size);
  m.SerializeWithCachedSizesToArray(
      reinterpret_cast<uint8_t*>(sealed.data() + kSnapshotHeaderSize));
  Reseal(sealed);
  return sealed;
}

absl::StatusOr<DeviceManagerSnapshot> DecodeDeviceManagerSnapshot(absl::string_view bytes) {
  absl::StatusOr<absl::string_view> payload = UnsealSnapshot(bytes, kDeviceManagerPayload);
  if (!payload.ok()) return payload.status();
  google::protobuf::Arena arena(ArenaFor(payload->size() * 2));
  auto& m = *google::protobuf::Arena::CreateMessage<snapshot::v1::DeviceManagerSnapshot>(&arena);
  if (!m.ParseFromArray(payload->data(), static_cast<int>(payload->size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("the snapshot's ", payload->size(), "-byte payload does not parse"));
  }
  DeviceManagerSnapshot out;
  out.next_id = m.next_id();
  out.devices.reserve(m.devices_size());
  for (const snapshot::v1::Device& in : m.devices()) {
    DeviceRecord d;
    d.id = in.id();
    d.name = in.name();
    d.kind = in.kind();
    d.state = in.state();
    d.shared_legacy_irq = in.shared_legacy_irq();
    if (absl::Status s = ReadResources(in.allocated(), "allocated", d, d.allocated); !s.ok()) {
      return s;
    }
    if (absl::Status s = ReadResources(in.registered(), "registered", d, d.registered); !s.ok()) {
      return s;
    }
    out.devices.push_back(std::move(d));
  }
  if (absl::Status status = CheckConsistent(out); !status.ok()) return status;
  return out;
}

}  // namespace dbs
