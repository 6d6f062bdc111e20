#include "sidecar/sticky/members.h"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/membership_version.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::sticky {
namespace {

using ::testing::HasSubstr;

constexpr char kGood[] = R"(# the checkout pods
web-1   10.0.0.6:7001   2
web-0	10.0.0.5:7001	4   # tabs and a trailing comment

web-2 [fd00::7]:7001 1
web-3 localhost:7002 1024
)";

std::shared_ptr<const MemberTable> MustParse(std::string_view text) {
  absl::StatusOr<std::shared_ptr<const MemberTable>> table = MemberTable::Parse(text, "peers");
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *table : nullptr;
}

std::string ParseError(std::string_view text) {
  absl::StatusOr<std::shared_ptr<const MemberTable>> table = MemberTable::Parse(text, "peers");
  EXPECT_FALSE(table.ok()) << "accepted:\n" << text;
  return table.ok() ? "" : std::string(table.status().message());
}

// A good file yields every member, sorted by id, with its hash, address and slot count.
TEST(MemberTableTest, ParsesGoodFile) {
  auto table = MustParse(kGood);
  ASSERT_NE(table, nullptr);
  ASSERT_EQ(table->members().size(), 4u);
  const Member& web0 = table->members()[0];
  EXPECT_EQ(web0.id, "web-0");
  EXPECT_EQ(web0.hash, MemberHash("web-0"));
  EXPECT_EQ(web0.peer_address.ToString(), "10.0.0.5:7001");
  EXPECT_EQ(web0.slots, 4);
  EXPECT_EQ(table->members()[1].id, "web-1");
  EXPECT_EQ(table->members()[2].peer_address.ToString(), "[fd00::7]:7001");
  EXPECT_EQ(table->members()[3].peer_address.ToString(), "127.0.0.1:7002");
  EXPECT_EQ(table->members()[3].slots, 1024);
}

// The optional fourth column marks a member draining; ready is the default.
TEST(MemberTableTest, ParsesState) {
  auto table = MustParse("a 127.0.0.1:1 1 draining\nb 127.0.0.1:2 1 ready\nc 127.0.0.1:3 1\n");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->FindById("a")->state, MemberState::kDraining);
  EXPECT_EQ(table->FindById("b")->state, MemberState::kReady);
  EXPECT_EQ(table->FindById("c")->state, MemberState::kReady);
}

// Find looks members up by the hash a cookie carries, FindById by pod name; absent is nullptr.
TEST(MemberTableTest, Find) {
  auto table = MustParse(kGood);
  ASSERT_NE(table, nullptr);
  for (const Member& m : table->members()) {
    EXPECT_EQ(table->Find(m.hash), &m);
    EXPECT_EQ(table->FindById(m.id), &m);
  }
  EXPECT_EQ(table->Find(MemberHash("web-9")), nullptr);
  EXPECT_EQ(table->FindById("web-9"), nullptr);
  EXPECT_EQ(table->FindById("web-"), nullptr);
}

// Targets lists every slot of every member, slots numbered from 0.
TEST(MemberTableTest, Targets) {
  auto table = MustParse("b 127.0.0.1:2 1\na 127.0.0.1:1 2\n");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(
      table->Targets(),
      (std::vector<Target>{{MemberHash("a"), 0}, {MemberHash("a"), 1}, {MemberHash("b"), 0}}));
}

// Each kind of bad line is refused with the source, the line number and what is wrong.
TEST(MemberTableTest, BadFiles) {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"web-0 10.0.0.5:7001\n", "peers:1: 2 fields, want ID HOST:PORT SLOTS [ready|draining]"},
      {"# c\nweb-0\n", "peers:2: 1 field, want"},
      {"web-0 10.0.0.5:7001 4 ready extra\n", "peers:1: 5 fields"},
      {"web-0 10.0.0.5:7001 4 extra\n", "peers:1: bad state 'extra': want ready or draining"},
      {"web-0 10.0.0.5:7001 4 READY\n", "bad state 'READY'"},
      {"web-0 10.0.0.5 4\n", "peers:1: bad peer address '10.0.0.5'"},
      {"web-0 pod.example:7001 4\n", "peers:1: bad peer address 'pod.example:7001'"},
      {"web-0 10.0.0.5:70000 4\n", "peers:1: bad peer address"},
      {"web-0 10.0.0.5:0 4\n", "port 0"},
      {"web-0 :7001 4\n", "unspecified address"},
      {"web-0 [::]:7001 4\n", "unspecified address"},
      {"web-0 [fd00::1:7001 4\n", "bad peer address"},
      {"web-0 10.0.0.5:7001 0\n", "peers:1: bad slots '0': want an integer in 1..1024"},
      {"web-0 10.0.0.5:7001 1025\n", "bad slots '1025'"},
      {"web-0 10.0.0.5:7001 four\n", "bad slots 'four'"},
      {"web-0 10.0.0.5:7001 +4\n", "bad slots '+4'"},
      {"web-0 10.0.0.5:7001 04\n", "bad slots '04'"},
      {"web-0 10.0.0.5:7001 -1\n", "bad slots '-1'"},
      {"web/0 10.0.0.5:7001 4\n", "peers:1: bad member id 'web/0'"},
      {std::string(254, 'a') + " 10.0.0.5:7001 4\n", "bad member id"},
      {"a 10.0.0.5:1 1\nb 10.0.0.5:2 1\n\na 10.0.0.5:3 1\n",
       "peers:4: duplicate member id 'a' (first on line 1)"},
      {"", "peers: no members"},
      {"# only\n\n   # comments\n", "peers: no members"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParseError(c.text), HasSubstr(c.error)) << c.text;
  }
}

// Two ids with the same 32-bit hash cannot both be members: cookies could not tell them apart.
TEST(MemberTableTest, HashCollisionNamesBothIds) {
  std::unordered_map<uint32_t, std::string> seen;
  std::string first;
  std::string second;
  for (int i = 0; first.empty(); ++i) {
    std::string id = absl::StrCat("pod-", i);
    auto [it, inserted] = seen.emplace(MemberHash(id), id);
    if (!inserted) {
      first = it->second;
      second = id;
    }
  }
  std::string error = ParseError(absl::StrCat(first, " 10.0.0.1:1 1\n", second, " 10.0.0.2:1 1\n"));
  EXPECT_THAT(error, HasSubstr("peers:2: member ids"));
  EXPECT_THAT(error, HasSubstr(absl::StrCat("'", first, "'")));
  EXPECT_THAT(error, HasSubstr(absl::StrCat("'", second, "'")));
  EXPECT_THAT(error, HasSubstr("same 32-bit hash"));
}

// The version is a function of the membership only: comments, whitespace, line order and the
// spelling of localhost do not change it; a slot count, an address, a state or a member does.
TEST(MemberTableTest, VersionIsStable) {
  auto base = MustParse("a 127.0.0.1:1 2\nb 10.0.0.2:1 1\n");
  auto same = MustParse("# peers\n\n  b\t10.0.0.2:1   1 ready # b\r\n a localhost:1 2");
  ASSERT_NE(base, nullptr);
  ASSERT_NE(same, nullptr);
  EXPECT_EQ(base->version(), same->version());
  for (std::string_view other :
       {"a 127.0.0.1:1 3\nb 10.0.0.2:1 1\n", "a 127.0.0.1:2 2\nb 10.0.0.2:1 1\n",
        "a 127.0.0.1:1 2\n", "a 127.0.0.1:1 2\nc 10.0.0.2:1 1\n",
        "a 127.0.0.1:1 2\nb 10.0.0.2:1 1 draining\n"}) {
    auto changed = MustParse(other);
    ASSERT_NE(changed, nullptr);
    EXPECT_NE(changed->version(), base->version()) << other;
  }
}

// The version is common/'s MembershipVersion over the members in id order, addresses in
// inet_ntop form: what the controller computes for the same membership.
TEST(MemberTableTest, VersionIsTheSharedFunction) {
  auto table = MustParse("web-1 [fd00::0:6]:7001 2 draining\nweb-0 10.0.0.5:7001 4\n");
  ASSERT_NE(table, nullptr);
  std::vector<MemberRecord> records = {{"web-0", "10.0.0.5:7001", 4, false},
                                       {"web-1", "[fd00::6]:7001", 2, true}};
  EXPECT_EQ(table->version(), MembershipVersion(records));
}

// FromMembers gives the table Parse gives for the same membership, whatever the order.
TEST(MemberTableTest, FromMembersEqualsParse) {
  auto parsed = MustParse("a 127.0.0.1:1 2\nb [::1]:2 1 draining\n");
  ASSERT_NE(parsed, nullptr);
  std::vector<Member> members(2);
  members[0].id = "b";
  members[0].peer_address = *net::SocketAddress::Parse("[::1]:2");
  members[0].slots = 1;
  members[0].state = MemberState::kDraining;
  members[1].id = "a";
  members[1].peer_address = *net::SocketAddress::Parse("127.0.0.1:1");
  members[1].slots = 2;
  absl::StatusOr<std::shared_ptr<const MemberTable>> built =
      MemberTable::FromMembers(std::move(members), "controller");
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_EQ((*built)->version(), parsed->version());
  ASSERT_EQ((*built)->members().size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const Member& x = (*built)->members()[i];
    const Member& y = parsed->members()[i];
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.hash, y.hash);
    EXPECT_EQ(x.peer_address.ToString(), y.peer_address.ToString());
    EXPECT_EQ(x.slots, y.slots);
    EXPECT_EQ(x.state, y.state);
  }
  EXPECT_EQ((*built)->Find(MemberHash("b")), &(*built)->members()[1]);
}

// FromMembers refuses what Parse refuses, naming the source and the member.
TEST(MemberTableTest, FromMembersValidates) {
  auto member = [](std::string id, const std::string& address, int slots) {
    Member m;
    m.id = std::move(id);
    m.peer_address = *net::SocketAddress::Parse(address);
    m.slots = slots;
    return m;
  };
  auto error = [](std::vector<Member> members) {
    absl::StatusOr<std::shared_ptr<const MemberTable>> t =
        MemberTable::FromMembers(std::move(members), "controller");
    EXPECT_FALSE(t.ok());
    return t.ok() ? "" : std::string(t.status().message());
  };
  EXPECT_THAT(error({}), HasSubstr("controller: no members"));
  EXPECT_THAT(error({member("web/0", "10.0.0.1:1", 1)}),
              HasSubstr("controller: member 'web/0': bad member id 'web/0'"));
  EXPECT_THAT(error({member("a", "10.0.0.1:0", 1)}), HasSubstr("port 0 cannot be dialed"));
  EXPECT_THAT(error({member("a", "0.0.0.0:1", 1)}), HasSubstr("unspecified address"));
  EXPECT_THAT(error({member("a", "10.0.0.1:1", 0)}),
              HasSubstr("controller: member 'a': bad slots '0': want an integer in 1..1024"));
  EXPECT_THAT(error({member("a", "10.0.0.1:1", 1025)}), HasSubstr("bad slots '1025'"));
  EXPECT_THAT(error({member("a", "10.0.0.1:1", 1), member("a", "10.0.0.2:1", 1)}),
              HasSubstr("controller: member 'a': duplicate member id 'a'"));
}

// Load reads a file and names it in errors.
TEST(MemberTableTest, LoadNamesTheFile) {
  absl::StatusOr<std::shared_ptr<const MemberTable>> missing =
      MemberTable::Load("/nonexistent/peers");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/peers"));
}

}  // namespace
}  // namespace drover::sticky
