#include "sidecar/sticky/members.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/membership_version.h"
#include "common/strings.h"

namespace drover::sticky {
namespace {

// A peers file lists a few hundred members; anything much larger is not one.
constexpr size_t kMaxPeersFileBytes = 4 * 1024 * 1024;

bool ValidId(std::string_view id) {
  if (id.empty() || id.size() > MemberTable::kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// Strictly decimal 1..kMaxSlots: no sign, no leading zeros, no spaces.
std::optional<int> ParseSlots(std::string_view text) {
  if (text.empty() || text.size() > 4 || text.front() == '0') return std::nullopt;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value > MemberTable::kMaxSlots) return std::nullopt;
  return value;
}

absl::Status CheckDialable(const net::SocketAddress& address) {
  if (address.port() == 0) return absl::InvalidArgumentError("port 0 cannot be dialed");
  std::string host = address.HostString();
  if (host == "0.0.0.0" || host == "::") {
    return absl::InvalidArgumentError("the unspecified address cannot be dialed");
  }
  return absl::OkStatus();
}

absl::StatusOr<net::SocketAddress> ParsePeerAddress(std::string_view text) {
  absl::StatusOr<net::SocketAddress> address = net::SocketAddress::Parse(text);
  if (!address.ok()) return address.status();
  if (absl::Status dialable = CheckDialable(*address); !dialable.ok()) return dialable;
  return address;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const MemberTable>> MemberTable::Parse(
    std::string_view text, std::string_view source_name) {
  std::vector<Member> members;
  std::vector<int> lines;
  auto error = [&](int line, std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source_name), ":", line, ": ", AsAbsl(what)));
  };

  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(AsAbsl(text), '\n')) {
    ++line_number;
    absl::string_view line = raw.substr(0, raw.find('#'));
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r\v\f"), absl::SkipEmpty());
    if (fields.empty()) continue;
    if (fields.size() != 3 && fields.size() != 4) {
      return error(line_number, absl::StrCat(fields.size(), " field", fields.size() == 1 ? "" : "s",
                                             ", want ID HOST:PORT SLOTS [ready|draining]"));
    }
    Member member;
    member.id = std::string(fields[0]);
    if (!ValidId(member.id)) {
      return error(line_number, absl::StrCat("bad member id '", fields[0],
                                             "': want 1 to 253 of [A-Za-z0-9._-]"));
    }
    absl::StatusOr<net::SocketAddress> address = ParsePeerAddress(AsStd(fields[1]));
    if (!address.ok()) {
      return error(line_number, absl::StrCat("bad peer address '", fields[1],
                                             "': ", address.status().message()));
    }
    member.peer_address = *address;
    std::optional<int> slots = ParseSlots(AsStd(fields[2]));
    if (!slots.has_value()) {
      return error(line_number,
                   absl::StrCat("bad slots '", fields[2], "': want an integer in 1..", kMaxSlots));
    }
    member.slots = *slots;
    if (fields.size() == 4) {
      if (fields[3] == "ready") {
        member.state = MemberState::kReady;
      } else if (fields[3] == "draining") {
        member.state = MemberState::kDraining;
      } else {
        return error(line_number,
                     absl::StrCat("bad state '", fields[3], "': want ready or draining"));
      }
    }
    members.push_back(std::move(member));
    lines.push_back(line_number);
  }
  if (members.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        AsAbsl(source_name),
        ": no members, want one line per member: ID HOST:PORT SLOTS [ready|draining]"));
  }
  return Build(std::move(members), std::move(lines), source_name);
}

absl::StatusOr<std::shared_ptr<const MemberTable>> MemberTable::FromMembers(
    std::vector<Member> members, std::string_view source_name) {
  return Build(std::move(members), {}, source_name);
}

absl::StatusOr<std::shared_ptr<const MemberTable>> MemberTable::Build(
    std::vector<Member> members, std::vector<int> lines, std::string_view source_name) {
  // Errors name the line of a parsed file ("peers:3: ..."), else the source and the member.
  const bool have_lines = lines.size() == members.size();
  auto where = [&](size_t i) {
    return have_lines ? absl::StrCat(AsAbsl(source_name), ":", lines[i])
                      : absl::StrCat(AsAbsl(source_name), ": member '", members[i].id, "'");
  };
  auto line_note = [&](std::string_view prefix, size_t i) {
    return have_lines ? absl::StrCat(AsAbsl(prefix), lines[i]) : std::string();
  };
  if (members.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source_name), ": no members"));
  }
  for (size_t i = 0; i < members.size(); ++i) {
    Member& m = members[i];
    if (!ValidId(m.id)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(i), ": bad member id '", m.id, "': want 1 to 253 of [A-Za-z0-9._-]"));
    }
    if (absl::Status dialable = CheckDialable(m.peer_address); !dialable.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where(i), ": bad peer address '", m.peer_address.ToString(), "': ", dialable.message()));
    }
    if (m.slots < 1 || m.slots > kMaxSlots) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(i), ": bad slots '", m.slots, "': want an integer in 1..", kMaxSlots));
    }
    m.hash = MemberHash(m.id);
  }

  // Sorting by (id, line) puts duplicates next to each other, first occurrence first.
  std::vector<size_t> order(members.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(members[a].id, a) < std::tie(members[b].id, b);
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const size_t first = order[k - 1];
    const size_t again = order[k];
    if (members[again].id == members[first].id) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(again), ": duplicate member id '", members[again].id, "'",
                       have_lines ? line_note(" (first on line ", first) + ")" : ""));
    }
  }

  std::shared_ptr<MemberTable> table(new MemberTable());
  for (size_t k = 0; k < order.size(); ++k) {
    table->by_hash_.emplace_back(members[order[k]].hash, static_cast<uint32_t>(k));
  }
  std::sort(table->by_hash_.begin(), table->by_hash_.end());
  for (size_t i = 1; i < table->by_hash_.size(); ++i) {
    if (table->by_hash_[i].first == table->by_hash_[i - 1].first) {
      size_t a = order[table->by_hash_[i - 1].second];
      size_t b = order[table->by_hash_[i].second];
      const size_t later = a > b ? a : b;
      const size_t earlier = a > b ? b : a;
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: member ids '%s' and '%s'%s have the same 32-bit hash %08x; rename one", where(later),
          members[later].id, members[earlier].id,
          have_lines ? line_note(" (line ", earlier) + ")" : "", members[later].hash));
    }
  }
  std::vector<MemberRecord> records;
  records.reserve(order.size());
  table->members_.reserve(order.size());
  for (size_t i : order) {
    Member& m = members[i];
    records.push_back({.id = m.id,
                       .address = m.peer_address.ToString(),
                       .slots = static_cast<uint32_t>(m.slots),
                       .draining = m.state == MemberState::kDraining});
    table->members_.push_back(std::move(m));
  }
  table->version_ = MembershipVersion(records);
  return std::shared_ptr<const MemberTable>(std::move(table));
}

absl::StatusOr<std::shared_ptr<const MemberTable>> MemberTable::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path, kMaxPeersFileBytes);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("peers file: ", text.status().message()));
  }
  return Parse(*text, path);
}

const Member* MemberTable::Find(uint32_t member_hash) const {
  auto it = std::lower_bound(by_hash_.begin(), by_hash_.end(),
                             std::pair<uint32_t, uint32_t>(member_hash, 0));
  if (it == by_hash_.end() || it->first != member_hash) return nullptr;
  return &members_[it->second];
}

const Member* MemberTable::FindById(std::string_view id) const {
  auto it = std::lower_bound(members_.begin(), members_.end(), id,
                             [](const Member& m, std::string_view v) { return m.id < v; });
  if (it == members_.end() || it->id != id) return nullptr;
  return &*it;
}

std::vector<Target> MemberTable::Targets() const {
  std::vector<Target> targets;
  for (const Member& m : members_) {
    for (int slot = 0; slot < m.slots; ++slot) {
      targets.push_back({.member = m.hash, .slot = static_cast<uint16_t>(slot)});
    }
  }
  return targets;
}

}  // namespace drover::sticky
