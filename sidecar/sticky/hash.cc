#include "sidecar/sticky/hash.h"

namespace drover::sticky {
namespace {

constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;
// Keeps target identity 0 (member 0, slot 0) away from the finalizer's fixed point at 0.
constexpr uint64_t kTargetSalt = 0x9e3779b97f4a7c15ULL;

// The MurmurHash3 fmix64 finalizer: a bijection with full avalanche.
constexpr uint64_t Fmix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

constexpr uint64_t TargetId(Target target) {
  return (static_cast<uint64_t>(target.member) << 16) | target.slot;
}

}  // namespace

uint64_t StableHash(std::string_view bytes) {
  uint64_t h = kFnvOffsetBasis;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  return Fmix64(h);
}

uint32_t MemberHash(std::string_view member_id) {
  return static_cast<uint32_t>(StableHash(member_id) >> 32);
}

uint64_t TargetHash(Target target, uint64_t seed) {
  return Fmix64(seed ^ Fmix64(TargetId(target) + kTargetSalt));
}

uint64_t RendezvousWeight(uint64_t key_hash, Target target) { return TargetHash(target, key_hash); }

int RendezvousPick(uint64_t key_hash, std::span<const Target> targets) {
  int best = -1;
  uint64_t best_weight = 0;
  uint64_t best_id = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    uint64_t weight = RendezvousWeight(key_hash, targets[i]);
    uint64_t id = TargetId(targets[i]);
    if (best < 0 || weight > best_weight || (weight == best_weight && id < best_id)) {
      best = static_cast<int>(i);
      best_weight = weight;
      best_id = id;
    }
  }
  return best;
}

}  // namespace drover::sticky
