// Stable hashing: the same bytes hash to the same value in every Drover process, on every
// machine and build, forever. Session cookies, consistent hashing and member-table versions
// depend on the exact values; absl::Hash and std::hash are seeded per process or unspecified
// and must never be used for any of them.
//
//   uint64_t h = drover::StableHash("session-id");
//   uint32_t member = drover::MemberHash("web-7d9f-abcde");   // what a cookie carries
#ifndef DROVER_COMMON_STABLE_HASH_H_
#define DROVER_COMMON_STABLE_HASH_H_

#include <cstdint>
#include <string_view>

namespace drover {

// FNV-1a 64 over `bytes`, then the MurmurHash3 64-bit finalizer so that every input bit reaches
// every output bit. Changing it re-homes every hash-keyed session of a cluster at once.
uint64_t StableHash(std::string_view bytes);

// The MurmurHash3 fmix64 finalizer: a bijection with full avalanche.
constexpr uint64_t Fmix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// The 32-bit id of a member (its pod name) carried in session cookies: the high half of
// StableHash(member_id).
inline uint32_t MemberHash(std::string_view member_id) {
  return static_cast<uint32_t>(StableHash(member_id) >> 32);
}

}  // namespace drover

#endif  // DROVER_COMMON_STABLE_HASH_H_
