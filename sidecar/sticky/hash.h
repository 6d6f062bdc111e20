// Stable hashing for sticky sessions: the same bytes hash to the same value in every sidecar
// process, on every machine and build, forever, so that every member holding the same target
// list maps a session key to the same (member, slot). absl::Hash and std::hash are seeded per
// process or unspecified and must never be used for this.
//
//   std::vector<sticky::Target> slots = {{sticky::MemberHash("web-0"), 0},
//                                        {sticky::MemberHash("web-0"), 1}};
//   int i = sticky::RendezvousPick(sticky::StableHash(session_id), slots);
//   if (i >= 0) Forward(slots[i]);
//
// The cluster-wide pick over every (member, slot) is a MaglevTable (maglev.h), O(1) per key;
// RendezvousPick is O(N) and serves short lists, such as one member's own slots.
#ifndef DROVER_SIDECAR_STICKY_HASH_H_
#define DROVER_SIDECAR_STICKY_HASH_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "common/stable_hash.h"

namespace drover::sticky {

// StableHash and MemberHash live in common/ (the controller computes table versions with them
// too); sticky code keeps calling them by these names. Their values are pinned forever: cookies,
// peers and golden tests depend on them.
using ::drover::MemberHash;
using ::drover::StableHash;

// The stable identity of one worker slot of one member. Slots are numbered from 0.
struct Target {
  uint32_t member = 0;
  uint16_t slot = 0;

  friend bool operator==(const Target&, const Target&) = default;
};

// A stable 64-bit hash of `target`'s identity under `seed`: different seeds give unrelated
// hashes (a MaglevTable derives each target's offset and skip from two). Stable forever, like
// StableHash: changing it re-homes every hash-keyed session.
uint64_t TargetHash(Target target, uint64_t seed);

// The pseudo-random weight of `target` for a key, TargetHash(target, key_hash); rendezvous
// hashing picks the highest.
uint64_t RendezvousWeight(uint64_t key_hash, Target target);

// Rendezvous (highest random weight) hashing: the target with the highest
// RendezvousWeight(key_hash, target) wins; equal weights go to the smaller (member, slot), so the
// pick never depends on the order of `targets`. Removing a target moves only the keys it held;
// adding one moves only keys to it, about 1/(N+1) of them. Returns the index into `targets`, or
// -1 when it is empty. O(N): for short lists (a member's own slots); use a MaglevTable for the
// whole cluster.
int RendezvousPick(uint64_t key_hash, std::span<const Target> targets);

}  // namespace drover::sticky

#endif  // DROVER_SIDECAR_STICKY_HASH_H_
