#include "controller/members/membership.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/membership_version.h"
#include "common/stable_hash.h"

namespace drover::members {

const MemberEntry* GroupTable::Find(const std::string& id) const {
  auto it =
      std::lower_bound(members.begin(), members.end(), id,
                       [](const MemberEntry& m, const std::string& key) { return m.id < key; });
  return it != members.end() && it->id == id ? &*it : nullptr;
}

std::string GroupOf(const kube::Pod& pod) {
  auto it = pod.labels.find(kGroupLabel);
  return it == pod.labels.end() ? "" : it->second;
}

std::shared_ptr<const GroupTable> MakeGroupTable(std::string group,
                                                 std::vector<MemberEntry> members) {
  auto table = std::make_shared<GroupTable>();
  table->group = std::move(group);
  std::sort(members.begin(), members.end(),
            [](const MemberEntry& a, const MemberEntry& b) { return a.id < b.id; });
  std::vector<MemberRecord> records;
  records.reserve(members.size());
  for (const MemberEntry& m : members) {
    records.push_back(MemberRecord{m.id, m.address, m.slots, m.draining});
  }
  table->version = MembershipVersion(records);
  table->version_hex = VersionHex(table->version);
  table->members = std::move(members);
  return table;
}

Membership BuildMembership(std::span<const kube::Pod> pods, const MemberRules& rules) {
  Membership result;
  std::map<std::string, std::vector<MemberEntry>> by_group;
  for (const kube::Pod& pod : pods) {
    result.pod_groups[pod.Key()] = GroupOf(pod);
    result.pod_ips[pod.Key()] = pod.pod_ip;
    Derived derived = DeriveMember(pod, rules);
    if (derived.member) {
      by_group[derived.member->group].push_back(*std::move(derived.member));
    } else if (!derived.problem.empty()) {
      result.excluded.push_back({pod.Key(), GroupOf(pod), std::move(derived.problem)});
    }
  }

  for (auto& [group, members] : by_group) {
    // Oldest first, so the pod that had the hash first keeps it; the order is total, so every
    // replica keeps the same one whatever order its events came in.
    std::sort(members.begin(), members.end(), [](const MemberEntry& a, const MemberEntry& b) {
      return std::tie(a.creation_timestamp, a.id) < std::tie(b.creation_timestamp, b.id);
    });
    absl::flat_hash_map<uint32_t, std::string> holders;  // member hash -> id
    std::vector<MemberEntry> kept;
    kept.reserve(members.size());
    for (MemberEntry& member : members) {
      auto [it, inserted] = holders.try_emplace(MemberHash(member.id), member.id);
      if (!inserted) {
        result.excluded.push_back({member.id, group,
                                   absl::StrCat("member hash collides with older member ",
                                                it->second, "; left out of the table")});
        continue;
      }
      kept.push_back(std::move(member));
    }
    result.groups[group] = MakeGroupTable(group, std::move(kept));
  }
  return result;
}

}  // namespace drover::members
