// The member table: the peers of this sidecar (pods, each with a peer listener and a number of
// worker slots), as immutable snapshots that data-path threads share. A membership source
// (sidecar/membership/) builds them: from the `--peers=FILE` text below, or from the controller.
//
//   absl::StatusOr<std::shared_ptr<const MemberTable>> table = MemberTable::Load(path);
//   if (!table.ok()) return table.status();
//   if (const Member* owner = (*table)->Find(cookie.member)) Forward(owner->peer_address);
//
// File format, one member per line; '#' starts a comment, blank lines are ignored:
//
//   # ID        HOST:PORT          SLOTS  [STATE]
//   web-0       10.0.0.5:7001      4
//   web-1       [fd00::6]:7001     4      draining
//
// ID is the pod name ([A-Za-z0-9._-], at most 253 characters, unique), HOST:PORT the member's
// peer listener (an IPv4 literal, "localhost" or [IPv6], with a non-zero port), SLOTS its worker
// count (1..1024); slots are numbered 0..SLOTS-1. STATE is optional: `ready` (the default) or
// `draining` (keeps its sessions, gets no new ones; see MemberState). Each error names the file,
// the line and what is wrong. A file without members is an error: every sidecar is at least its own
// member, so an empty file is a mistake (or a half-written file), not a membership.
#ifndef DROVER_SIDECAR_STICKY_MEMBERS_H_
#define DROVER_SIDECAR_STICKY_MEMBERS_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sidecar/net/socket.h"
#include "sidecar/sticky/hash.h"
#include "sidecar/sticky/maglev.h"

namespace drover::sticky {

// READY: takes new sessions. DRAINING (being deleted, or drained by the admin API): keeps the
// sessions it has and gets no new ones; a new session arriving at its sidecar is placed on a
// ready member. Hash-mode keys keep mapping onto a draining member until it leaves the table.
enum class MemberState : uint8_t { kReady, kDraining };

struct Member {
  std::string id;     // the pod name
  uint32_t hash = 0;  // MemberHash(id), what cookies carry; set by the table
  net::SocketAddress peer_address;
  int slots = 0;
  MemberState state = MemberState::kReady;
};

// An immutable snapshot; share it as std::shared_ptr<const MemberTable>.
class MemberTable {
 public:
  static constexpr int kMaxSlots = 1024;
  static constexpr size_t kMaxIdLength = 253;

  // `source_name` (usually the path) prefixes every error: "peers:3: bad slots '0': ...".
  static absl::StatusOr<std::shared_ptr<const MemberTable>> Parse(std::string_view text,
                                                                  std::string_view source_name);
  // A table from members built elsewhere (the controller's updates), with Parse's validation
  // (Parse reads the lines, then builds through the same code), so the same membership gives
  // the same table and version from either source. `hash` is computed here; the order does not
  // matter. Errors read "SOURCE: member 'ID': ...".
  static absl::StatusOr<std::shared_ptr<const MemberTable>> FromMembers(
      std::vector<Member> members, std::string_view source_name);
  static absl::StatusOr<std::shared_ptr<const MemberTable>> Load(const std::string& path);

  // nullptr if absent.
  const Member* Find(uint32_t member_hash) const;
  const Member* FindById(std::string_view id) const;
  // Sorted by id, whatever the order in the file, so equal memberships are equal tables.
  std::span<const Member> members() const { return members_; }
  // Every (member, slot) of the table, in members() order, slots ascending.
  std::vector<Target> Targets() const;
  // MembershipVersion (common/membership_version.h) of the members: unchanged by comments,
  // whitespace or line order; equal on every sidecar and on the controller for the same
  // membership. Shown as VersionHex(version()).
  uint64_t version() const { return version_; }
  // The hash modes' Maglev table over Targets(), built by the first caller (~40 ms and 4.3 MiB
  // at 40,000 targets; concurrent callers wait for it) and then shared by every thread holding
  // this snapshot: once per snapshot, not once per event-loop thread. Thread-safe.
  std::shared_ptr<const MaglevTable> maglev() const {
    std::call_once(maglev_once_, [this] {
      maglev_ = std::make_shared<const MaglevTable>(MaglevTable::Build(Targets()));
    });
    return maglev_;
  }

 private:
  MemberTable() = default;
  // `lines`: the file line of each member, for errors; empty when there is no file.
  static absl::StatusOr<std::shared_ptr<const MemberTable>> Build(std::vector<Member> members,
                                                                  std::vector<int> lines,
                                                                  std::string_view source_name);

  std::vector<Member> members_;
  std::vector<std::pair<uint32_t, uint32_t>> by_hash_;  // (hash, index in members_), sorted
  uint64_t version_ = 0;
  mutable std::once_flag maglev_once_;
  mutable std::shared_ptr<const MaglevTable> maglev_;  // written once, inside maglev_once_
};

}  // namespace drover::sticky

#endif  // DROVER_SIDECAR_STICKY_MEMBERS_H_
