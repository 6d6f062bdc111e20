#include "common/stable_hash.h"

#include <string>

#include "gtest/gtest.h"

namespace drover {
namespace {

// The values cookies, consistent hashing and member-table versions depend on, computed
// independently (the documented FNV-1a 64 + fmix64 in a few lines of Python): a change to the
// function must fail here.
TEST(StableHashTest, ValuesArePinned) {
  EXPECT_EQ(StableHash(""), 0xefd01f60ba992926ULL);
  EXPECT_EQ(StableHash("a"), 0x82a2a958a9bece5bULL);
  EXPECT_EQ(StableHash("key-0"), 0x18137ad031db6589ULL);
  EXPECT_EQ(StableHash(std::string("\0\xff", 2)), 0xacb64f88d28b68b8ULL);
  EXPECT_EQ(MemberHash("web-0"), 0x64d9c4faU);
  EXPECT_EQ(MemberHash("checkout-7f9c5d8b6-x2x4k"), 0xba152d2cU);
}

// fmix64 is a bijection that moves 0 nowhere else (why callers salt their inputs).
TEST(StableHashTest, Fmix64) {
  EXPECT_EQ(Fmix64(0), 0u);
  EXPECT_NE(Fmix64(1), Fmix64(2));
  static_assert(Fmix64(0) == 0);  // usable in constant expressions
}

}  // namespace
}  // namespace drover
