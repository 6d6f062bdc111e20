// One cluster state (every selected pod) to the member tables of every app group, built the
// same way on every controller replica: members sorted by id, versions from their content.
//
//   Membership m = BuildMembership(pod_store.List(), rules);
//   for (const auto& [group, table] : m.groups) Publish(table);   // table->version_hex
//   for (const Exclusion& e : m.excluded) LOG(WARNING) << e.pod << ": " << e.reason;
//
// Two members of a group whose ids collide in the 32-bit member hash that session cookies
// carry cannot both be told apart: the younger pod (later creationTimestamp, then larger name)
// is left out of the table and reported, never the whole table refused.
#ifndef DROVER_CONTROLLER_MEMBERS_MEMBERSHIP_H_
#define DROVER_CONTROLLER_MEMBERS_MEMBERSHIP_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "controller/kube/pod.h"
#include "controller/members/member.h"

namespace drover::members {

// An immutable table: share as std::shared_ptr<const GroupTable>.
struct GroupTable {
  std::string group;
  std::vector<MemberEntry> members;  // sorted by id
  uint64_t version = 0;              // MembershipVersion of the members
  std::string version_hex;           // 16 lower-case hex digits

  const MemberEntry* Find(const std::string& id) const;
};

struct Exclusion {
  std::string pod;  // "namespace/name"
  std::string group;
  std::string reason;  // "member hash collides with web-abc (older)", "drover.io/workers=..."
};

struct Membership {
  std::map<std::string, std::shared_ptr<const GroupTable>> groups;  // groups with members
  std::map<std::string, std::string> pod_groups;  // "namespace/name" of every pod -> its group
  std::map<std::string, std::string> pod_ips;     // "namespace/name" -> pod IP ("" for none)
  std::vector<Exclusion> excluded;
};

// Builds the table of `members` (any order) as sent to sidecars: sorted, versioned.
std::shared_ptr<const GroupTable> MakeGroupTable(std::string group,
                                                 std::vector<MemberEntry> members);

Membership BuildMembership(std::span<const kube::Pod> pods, const MemberRules& rules);

// The group a pod belongs to: its app.kubernetes.io/name label, "" without one.
std::string GroupOf(const kube::Pod& pod);

}  // namespace drover::members

#endif  // DROVER_CONTROLLER_MEMBERS_MEMBERSHIP_H_
