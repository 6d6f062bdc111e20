#include "sidecar/sticky/hash.h"

namespace drover::sticky {
namespace {

// Keeps target identity 0 (member 0, slot 0) away from the finalizer's fixed point at 0.
constexpr uint64_t kTargetSalt = 0x9e3779b97f4a7c15ULL;

constexpr uint64_t TargetId(Target target) {
  return (static_cast<uint64_t>(target.member) << 16) | target.slot;
}

}  // namespace

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
