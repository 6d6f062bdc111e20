#include "sidecar/sticky/hash.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace drover::sticky {
namespace {

constexpr int kKeys = 1'000'000;

// StableHash("key-<i>") for i < kKeys, computed once for every property test.
const std::vector<uint64_t>& Keys() {
  static const std::vector<uint64_t>* keys = [] {
    auto* out = new std::vector<uint64_t>();
    out->reserve(kKeys);
    for (int i = 0; i < kKeys; ++i) out->push_back(StableHash(absl::StrCat("key-", i)));
    return out;
  }();
  return *keys;
}

// n targets as a real cluster has them: members "web-0", "web-1", ... with 4 slots each.
std::vector<Target> Targets(int n) {
  std::vector<Target> targets;
  targets.reserve(n);
  for (int i = 0; i < n; ++i) {
    targets.push_back({MemberHash(absl::StrCat("web-", i / 4)), static_cast<uint16_t>(i % 4)});
  }
  return targets;
}

std::vector<Target> MapAll(const std::vector<Target>& targets) {
  std::vector<Target> out;
  out.reserve(kKeys);
  for (uint64_t key : Keys()) out.push_back(targets[RendezvousPick(key, targets)]);
  return out;
}

// The hash functions' exact values are part of the wire format and of every member's agreement;
// a change to them must fail here, not silently re-home every session. The expected values
// were computed independently (a few lines of Python implementing the documented algorithm).
TEST(StableHashTest, ValuesArePinned) {
  EXPECT_EQ(StableHash(""), 0xefd01f60ba992926ULL);
  EXPECT_EQ(StableHash("a"), 0x82a2a958a9bece5bULL);
  EXPECT_EQ(StableHash("key-0"), 0x18137ad031db6589ULL);
  EXPECT_EQ(StableHash(std::string("\0\xff", 2)), 0xacb64f88d28b68b8ULL);
  EXPECT_EQ(MemberHash("web-0"), 0x64d9c4faU);
  EXPECT_EQ(MemberHash("checkout-7f9c5d8b6-x2x4k"), 0xba152d2cU);
  EXPECT_EQ(TargetHash({MemberHash("web-0"), 0}, 0), 0x1ff8d51a0001e214ULL);
  EXPECT_EQ(TargetHash({MemberHash("web-0"), 1}, 0x6d672d6f66667374ULL), 0x8e6f85f87ddd4648ULL);
}

// Every byte matters, including embedded NULs and the length.
TEST(StableHashTest, DistinguishesNearInputs) {
  EXPECT_NE(StableHash("a"), StableHash("b"));
  EXPECT_NE(StableHash("ab"), StableHash("ba"));
  EXPECT_NE(StableHash(std::string("a\0", 2)), StableHash("a"));
  EXPECT_NE(MemberHash("web-0"), MemberHash("web-1"));
}

// An empty target list has no pick.
TEST(RendezvousTest, EmptyIsMinusOne) { EXPECT_EQ(RendezvousPick(StableHash("k"), {}), -1); }

// The pick depends on the set of targets, not on their order in the list.
TEST(RendezvousTest, IndependentOfTargetOrder) {
  std::vector<Target> targets = Targets(12);
  std::vector<Target> reversed(targets.rbegin(), targets.rend());
  for (int i = 0; i < 10'000; ++i) {
    uint64_t key = Keys()[i];
    EXPECT_EQ(targets[RendezvousPick(key, targets)], reversed[RendezvousPick(key, reversed)]);
  }
}

// A fixed set of keys maps to pinned targets: any change of the hash or the weight fails here.
TEST(RendezvousTest, MappingIsPinned) {
  std::vector<Target> targets = Targets(8);
  std::vector<int> picks;
  picks.reserve(16);
  for (int i = 0; i < 16; ++i) {
    picks.push_back(RendezvousPick(StableHash(absl::StrCat("golden-", i)), targets));
  }
  EXPECT_EQ(picks, (std::vector<int>{3, 6, 6, 7, 5, 7, 0, 0, 3, 2, 6, 2, 6, 4, 0, 2}));
}

class RendezvousPropertyTest : public ::testing::TestWithParam<int> {};

// Keys spread evenly: the busiest target holds at most 5% more than the mean.
TEST_P(RendezvousPropertyTest, SpreadIsEven) {
  const int n = GetParam();
  std::vector<Target> targets = Targets(n);
  std::vector<int> count(n);
  for (uint64_t key : Keys()) ++count[RendezvousPick(key, targets)];
  double mean = static_cast<double>(kKeys) / n;
  int max = *std::max_element(count.begin(), count.end());
  EXPECT_LE(max / mean, 1.05) << "n=" << n;
}

// Removing one of N targets moves only the keys it held, at most 1.1/N of them.
TEST_P(RendezvousPropertyTest, RemovingOneMovesOnlyItsKeys) {
  const int n = GetParam();
  std::vector<Target> before = Targets(n);
  std::vector<Target> after = before;
  const Target removed = after[n / 2];
  after.erase(after.begin() + n / 2);
  std::vector<Target> a = MapAll(before);
  std::vector<Target> b = MapAll(after);
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (a[i] == b[i]) continue;
    ++moved;
    ASSERT_EQ(a[i], removed) << "key-" << i << " moved off a target that stayed";
  }
  EXPECT_LE(static_cast<double>(moved) / kKeys, 1.1 / n) << "n=" << n;
  EXPECT_GT(moved, 0);
}

// Adding a target to N moves only keys onto it, at most 1.1/(N+1) of them.
TEST_P(RendezvousPropertyTest, AddingOneMovesOnlyKeysToIt) {
  const int n = GetParam();
  std::vector<Target> before = Targets(n);
  std::vector<Target> after = before;
  const Target added{MemberHash("web-new"), 0};
  after.push_back(added);
  std::vector<Target> a = MapAll(before);
  std::vector<Target> b = MapAll(after);
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (a[i] == b[i]) continue;
    ++moved;
    ASSERT_EQ(b[i], added) << "key-" << i << " moved to a target that was already there";
  }
  EXPECT_LE(static_cast<double>(moved) / kKeys, 1.1 / (n + 1)) << "n=" << n;
  EXPECT_GT(moved, 0);
}

INSTANTIATE_TEST_SUITE_P(Sizes, RendezvousPropertyTest, ::testing::Values(3, 8, 32));

}  // namespace
}  // namespace drover::sticky
