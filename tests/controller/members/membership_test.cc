#include "controller/members/membership.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/membership_version.h"
#include "common/stable_hash.h"
#include "controller/members/history.h"
#include "gtest/gtest.h"

namespace drover::members {
namespace {

kube::Pod RunningPod(std::string name, std::string ip, std::string group = "web",
                     std::string workers = "2") {
  kube::Pod pod;
  pod.namespace_name = "shop";
  pod.name = std::move(name);
  pod.uid = absl::StrCat("uid-", pod.name);
  pod.phase = "Running";
  pod.pod_ip = std::move(ip);
  pod.ready = true;
  pod.creation_timestamp = "2026-01-01T00:00:00Z";
  if (!group.empty()) pod.labels["app.kubernetes.io/name"] = std::move(group);
  if (!workers.empty()) pod.annotations["drover.io/workers"] = std::move(workers);
  return pod;
}

// A Running, Ready pod with an IP and a workers annotation is a READY member at the default
// peer port.
TEST(DeriveMember, ReadyPod) {
  Derived d = DeriveMember(RunningPod("web-a", "10.0.0.5"), {.default_peer_port = 8081});
  ASSERT_TRUE(d.member.has_value());
  EXPECT_EQ(d.member->id, "web-a");
  EXPECT_EQ(d.member->address, "10.0.0.5:8081");
  EXPECT_EQ(d.member->slots, 2u);
  EXPECT_FALSE(d.member->draining);
  EXPECT_EQ(d.member->group, "web");
}

// Each of: not Ready, being deleted, drained by annotation makes the member DRAINING.
TEST(DeriveMember, DrainingStates) {
  kube::Pod not_ready = RunningPod("a", "10.0.0.1");
  not_ready.ready = false;
  kube::Pod deleting = RunningPod("b", "10.0.0.2");
  deleting.deletion_timestamp = "2026-01-01T00:01:00Z";
  kube::Pod drained = RunningPod("c", "10.0.0.3");
  drained.annotations["drover.io/drain"] = "true";
  kube::Pod not_drained = RunningPod("d", "10.0.0.4");
  not_drained.annotations["drover.io/drain"] = "false";
  for (const kube::Pod& pod : {not_ready, deleting, drained}) {
    Derived d = DeriveMember(pod, {});
    ASSERT_TRUE(d.member.has_value()) << pod.name;
    EXPECT_TRUE(d.member->draining) << pod.name;
  }
  EXPECT_FALSE(DeriveMember(not_drained, {}).member->draining);
}

// Pending pods and pods without an IP are simply not members; bad annotations are reported.
TEST(DeriveMember, NotMembersAndProblems) {
  kube::Pod pending = RunningPod("a", "10.0.0.1");
  pending.phase = "Pending";
  EXPECT_FALSE(DeriveMember(pending, {}).member.has_value());
  EXPECT_TRUE(DeriveMember(pending, {}).problem.empty());
  EXPECT_FALSE(DeriveMember(RunningPod("b", ""), {}).member.has_value());

  for (const char* workers : {"", "0", "abc", "1025", "-1"}) {
    kube::Pod pod = RunningPod("c", "10.0.0.3", "web", workers);
    if (std::string(workers).empty()) pod.annotations.erase("drover.io/workers");
    Derived d = DeriveMember(pod, {});
    EXPECT_FALSE(d.member.has_value()) << workers;
    EXPECT_NE(d.problem.find("drover.io/workers"), std::string::npos) << d.problem;
  }
  kube::Pod bad_port = RunningPod("d", "10.0.0.4");
  bad_port.annotations["drover.io/peer-port"] = "70000";
  EXPECT_NE(DeriveMember(bad_port, {}).problem.find("peer-port"), std::string::npos);
}

// The peer-port annotation wins over the default; IPv6 addresses are bracketed, canonical.
TEST(DeriveMember, PeerPortAndIpv6) {
  kube::Pod pod = RunningPod("a", "fd00:0:0::5");
  pod.annotations["drover.io/peer-port"] = "9000";
  Derived d = DeriveMember(pod, {});
  ASSERT_TRUE(d.member.has_value());
  EXPECT_EQ(d.member->address, "[fd00::5]:9000");
  EXPECT_FALSE(DeriveMember(RunningPod("b", "not-an-ip"), {}).member.has_value());
}

// Pods are grouped by app.kubernetes.io/name; pods without it share the default group "".
TEST(BuildMembership, GroupsByAppName) {
  std::vector<kube::Pod> pods = {RunningPod("web-a", "10.0.0.1"), RunningPod("web-b", "10.0.0.2"),
                                 RunningPod("api-a", "10.0.0.3", "api"),
                                 RunningPod("loose", "10.0.0.4", "")};
  Membership m = BuildMembership(pods, {});
  ASSERT_EQ(m.groups.size(), 3u);
  EXPECT_EQ(m.groups.at("web")->members.size(), 2u);
  EXPECT_EQ(m.groups.at("api")->members.size(), 1u);
  EXPECT_EQ(m.groups.at("")->members.size(), 1u);
  EXPECT_EQ(m.pod_groups.at("shop/api-a"), "api");
  EXPECT_EQ(m.pod_groups.at("shop/loose"), "");
}

// Two controllers seeing the same pods in any order build byte-identical tables and versions.
TEST(BuildMembership, DeterministicWhateverTheOrder) {
  std::vector<kube::Pod> pods;
  for (int i = 0; i < 50; ++i) {
    kube::Pod pod = RunningPod(absl::StrCat("web-", i), absl::StrCat("10.0.1.", i));
    pod.ready = i % 3 != 0;
    pods.push_back(pod);
  }
  Membership first = BuildMembership(pods, {});
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(pods.begin(), pods.end(), rng);
    Membership again = BuildMembership(pods, {});
    const GroupTable& a = *first.groups.at("web");
    const GroupTable& b = *again.groups.at("web");
    EXPECT_EQ(a.version_hex, b.version_hex);
    EXPECT_EQ(a.members, b.members);
  }
  EXPECT_EQ(first.groups.at("web")->version_hex.size(), 16u);
}

// The version changes with any member field and not with fields that are not part of it.
TEST(BuildMembership, VersionFollowsContent) {
  std::vector<kube::Pod> pods = {RunningPod("web-a", "10.0.0.1"), RunningPod("web-b", "10.0.0.2")};
  uint64_t base = BuildMembership(pods, {}).groups.at("web")->version;
  pods[1].ready = false;
  EXPECT_NE(BuildMembership(pods, {}).groups.at("web")->version, base);
  pods[1].ready = true;
  pods[1].resource_version = "999";
  pods[1].labels["unrelated"] = "x";
  EXPECT_EQ(BuildMembership(pods, {}).groups.at("web")->version, base);
  pods[1].annotations["drover.io/workers"] = "3";
  EXPECT_NE(BuildMembership(pods, {}).groups.at("web")->version, base);
}

// Two pods whose names collide in the 32-bit member hash: the younger is left out and
// reported; the table keeps everything else.
TEST(BuildMembership, MemberHashCollisionLeavesTheYoungerOut) {
  absl::flat_hash_map<uint32_t, std::string> seen;
  std::string older, younger;
  for (int i = 0; older.empty(); ++i) {
    std::string name = absl::StrCat("web-", i);
    auto [it, inserted] = seen.try_emplace(MemberHash(name), name);
    if (!inserted) {
      older = it->second;
      younger = name;
    }
  }
  kube::Pod a = RunningPod(older, "10.0.0.1");
  a.creation_timestamp = "2026-01-01T00:00:00Z";
  kube::Pod b = RunningPod(younger, "10.0.0.2");
  b.creation_timestamp = "2026-01-02T00:00:00Z";
  kube::Pod c = RunningPod("web-other", "10.0.0.3");
  for (const auto& pods : {std::vector<kube::Pod>{a, b, c}, std::vector<kube::Pod>{c, b, a}}) {
    Membership m = BuildMembership(pods, {});
    const GroupTable& table = *m.groups.at("web");
    ASSERT_EQ(table.members.size(), 2u);
    EXPECT_NE(table.Find(older), nullptr);
    EXPECT_EQ(table.Find(younger), nullptr);
    ASSERT_EQ(m.excluded.size(), 1u);
    EXPECT_EQ(m.excluded[0].pod, younger);
    EXPECT_NE(m.excluded[0].reason.find(older), std::string::npos);
  }
}

// A delta turns the base into the target: changed and added members, removed ids.
TEST(ComputeDelta, AddChangeRemove) {
  auto from = MakeGroupTable("web", {{.id = "a", .address = "10.0.0.1:1", .slots = 2},
                                     {.id = "b", .address = "10.0.0.2:1", .slots = 2},
                                     {.id = "c", .address = "10.0.0.3:1", .slots = 2}});
  auto to =
      MakeGroupTable("web", {{.id = "a", .address = "10.0.0.1:1", .slots = 2},
                             {.id = "b", .address = "10.0.0.2:1", .slots = 2, .draining = true},
                             {.id = "d", .address = "10.0.0.4:1", .slots = 4}});
  Delta delta = ComputeDelta(*from, *to);
  ASSERT_EQ(delta.changed.size(), 2u);
  EXPECT_EQ(delta.changed[0]->id, "b");
  EXPECT_EQ(delta.changed[1]->id, "d");
  EXPECT_EQ(delta.removed, std::vector<std::string>{"c"});
  EXPECT_TRUE(ComputeDelta(*to, *to).changed.empty());
}

// The history keeps the newest versions up to its capacity and remembers when each was made.
TEST(VersionHistory, BoundedAndFindable) {
  VersionHistory history(3);
  std::vector<std::shared_ptr<const GroupTable>> tables;
  for (int i = 0; i < 5; ++i) {
    tables.push_back(MakeGroupTable(
        "web", {{.id = "a", .address = "10.0.0.1:1", .slots = static_cast<uint32_t>(i + 1)}}));
    history.Add(tables.back(), absl::FromUnixSeconds(i));
  }
  EXPECT_EQ(history.size(), 3u);
  EXPECT_EQ(history.Find(tables[0]->version), nullptr);
  EXPECT_EQ(history.Find(tables[4]->version), tables[4]);
  EXPECT_EQ(*history.CreatedAt(tables[2]->version), absl::FromUnixSeconds(2));
  history.Add(tables[4], absl::FromUnixSeconds(9));
  EXPECT_EQ(history.size(), 3u);
  EXPECT_EQ(history.latest(), tables[4]);
}

// The version hex form round-trips and refuses anything but 16 hex digits.
TEST(MembershipVersion, HexRoundTrip) {
  EXPECT_EQ(VersionHex(0xabcdef), "0000000000abcdef");
  EXPECT_EQ(*ParseVersionHex("0000000000ABCDEF"), 0xabcdefu);
  EXPECT_FALSE(ParseVersionHex("abc").ok());
  EXPECT_FALSE(ParseVersionHex("000000000000000g").ok());
}

}  // namespace
}  // namespace drover::members
