#include "common/membership_version.h"

#include <string>
#include <vector>

#include "common/stable_hash.h"
#include "gtest/gtest.h"

namespace drover {
namespace {

// The version is StableHash of the documented canonical form, so anything that can write that
// form (the controller, a test, a script) computes the same version.
TEST(MembershipVersionTest, HashesTheCanonicalForm) {
  std::vector<MemberRecord> records = {{"web-0", "10.0.0.5:7001", 4, false},
                                       {"web-1", "[fd00::6]:7001", 2, true}};
  EXPECT_EQ(MembershipVersion(records), StableHash("drover-members-v1\n"
                                                   "web-0 10.0.0.5:7001 4 ready\n"
                                                   "web-1 [fd00::6]:7001 2 draining\n"));
  EXPECT_EQ(MembershipVersion({}), StableHash("drover-members-v1\n"));
}

// Every field is part of the version: the state, the slots, the address and the id.
TEST(MembershipVersionTest, EveryFieldCounts) {
  const std::vector<MemberRecord> base = {{"a", "10.0.0.1:1", 2, false}};
  const uint64_t v = MembershipVersion(base);
  for (const MemberRecord& changed :
       {MemberRecord{"a", "10.0.0.1:1", 2, true}, MemberRecord{"a", "10.0.0.1:1", 3, false},
        MemberRecord{"a", "10.0.0.1:2", 2, false}, MemberRecord{"b", "10.0.0.1:1", 2, false}}) {
    EXPECT_NE(MembershipVersion(std::vector<MemberRecord>{changed}), v) << changed.id;
  }
}

// Pinned: a change to the canonical form would make old and new sidecars disagree.
TEST(MembershipVersionTest, ValueIsPinned) {
  std::vector<MemberRecord> records = {{"web-0", "10.0.0.5:7001", 4, false}};
  EXPECT_EQ(VersionHex(MembershipVersion(records)),
            VersionHex(StableHash("drover-members-v1\nweb-0 10.0.0.5:7001 4 ready\n")));
}

// Versions travel as exactly 16 lower-case hex digits and parse back; anything else is refused.
TEST(MembershipVersionTest, HexRoundTrip) {
  EXPECT_EQ(VersionHex(0), "0000000000000000");
  EXPECT_EQ(VersionHex(0xDEADBEEFULL), "00000000deadbeef");
  EXPECT_EQ(VersionHex(~uint64_t{0}), "ffffffffffffffff");
  for (uint64_t v : std::vector<uint64_t>{0, 1, 0x0123456789abcdefULL, ~uint64_t{0}}) {
    absl::StatusOr<uint64_t> back = ParseVersionHex(VersionHex(v));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, v);
  }
  EXPECT_EQ(*ParseVersionHex("00000000DEADBEEF"), 0xdeadbeefULL);
  for (const char* bad : {"", "123", "0000000000000000a", "000000000000000g", "-000000000000001",
                          " 000000000000001"}) {
    EXPECT_FALSE(ParseVersionHex(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace drover
