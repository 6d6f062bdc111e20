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

absl::StatusOr<net::SocketAddress> ParsePeerAddress(std::string_view text) {
  absl::StatusOr<net::SocketAddress> address = net::SocketAddress::Parse(text);
  if (!address.ok()) return address.status();
  if (address->port() == 0) return absl::InvalidArgumentError("port 0 cannot be dialed");
  std::string host = address->HostString();
  if (host == "0.0.0.0" || host == "::") {
    return absl::InvalidArgumentError("the unspecified address cannot be dialed");
  }
  return address;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const MemberTable>> MemberTable::Parse(
    std::string_view text, std::string_view source_name) {
  struct Parsed {
    Member member;
    int line;
  };
  std::vector<Parsed> parsed;
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
    if (fields.size() != 3) {
      return error(line_number, absl::StrCat(fields.size(), " field", fields.size() == 1 ? "" : "s",
                                             ", want ID HOST:PORT SLOTS"));
    }
    Parsed p{.member = {}, .line = line_number};
    p.member.id = std::string(fields[0]);
    if (!ValidId(p.member.id)) {
      return error(line_number, absl::StrCat("bad member id '", fields[0],
                                             "': want 1 to 253 of [A-Za-z0-9._-]"));
    }
    absl::StatusOr<net::SocketAddress> address = ParsePeerAddress(AsStd(fields[1]));
    if (!address.ok()) {
      return error(line_number, absl::StrCat("bad peer address '", fields[1],
                                             "': ", address.status().message()));
    }
    p.member.peer_address = *address;
    std::optional<int> slots = ParseSlots(AsStd(fields[2]));
    if (!slots.has_value()) {
      return error(line_number,
                   absl::StrCat("bad slots '", fields[2], "': want an integer in 1..", kMaxSlots));
    }
    p.member.slots = *slots;
    p.member.hash = MemberHash(p.member.id);
    parsed.push_back(std::move(p));
  }
  if (parsed.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        AsAbsl(source_name), ": no members, want one line per member: ID HOST:PORT SLOTS"));
  }

  // Sorting by (id, line) puts duplicates next to each other, first occurrence first.
  std::sort(parsed.begin(), parsed.end(), [](const Parsed& a, const Parsed& b) {
    return std::tie(a.member.id, a.line) < std::tie(b.member.id, b.line);
  });
  for (size_t i = 1; i < parsed.size(); ++i) {
    if (parsed[i].member.id == parsed[i - 1].member.id) {
      return error(parsed[i].line, absl::StrCat("duplicate member id '", parsed[i].member.id,
                                                "' (first on line ", parsed[i - 1].line, ")"));
    }
  }

  std::shared_ptr<MemberTable> table(new MemberTable());
  std::string normalized;
  for (size_t i = 0; i < parsed.size(); ++i) {
    const Member& m = parsed[i].member;
    absl::StrAppend(&normalized, m.id, " ", m.peer_address.ToString(), " ", m.slots, "\n");
    table->by_hash_.emplace_back(m.hash, static_cast<uint32_t>(i));
  }
  std::sort(table->by_hash_.begin(), table->by_hash_.end());
  for (size_t i = 1; i < table->by_hash_.size(); ++i) {
    if (table->by_hash_[i].first == table->by_hash_[i - 1].first) {
      const Parsed& a = parsed[table->by_hash_[i - 1].second];
      const Parsed& b = parsed[table->by_hash_[i].second];
      const Parsed& later = a.line > b.line ? a : b;
      const Parsed& earlier = a.line > b.line ? b : a;
      return error(
          later.line,
          absl::StrFormat("member ids '%s' and '%s' (line %d) have the same 32-bit hash "
                          "%08x; rename one",
                          later.member.id, earlier.member.id, earlier.line, later.member.hash));
    }
  }
  table->members_.reserve(parsed.size());
  for (Parsed& p : parsed) table->members_.push_back(std::move(p.member));
  table->version_ = StableHash(normalized);
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
