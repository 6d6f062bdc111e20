// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
// Balancer", NSDI 2016, section 3.4): the hash modes' pick of a (member, slot) for a session key,
// O(1) per request however many targets the cluster has. A lookup table of M entries (M prime),
// each naming a target, is filled once per member-table snapshot; a pick is then one reduction of
// the key hash and one array read.
//
//   sticky::MaglevTable table = sticky::MaglevTable::Build(members->Targets());  // per snapshot
//   int i = table.Pick(sticky::StableHash(session_id));                           // per request
//   if (i >= 0) Forward(table.targets()[i]);
//
// Why these choices, with the figures maglev_test.cc checks (10^6 keys, members of 4 slots):
// - Determinism: the table depends only on the set of targets. Build sorts them by
//   (member hash, slot) and drops duplicates, each target's permutation of the entries comes from
//   two TargetHash values (stable forever, never std::hash or absl::Hash), and M from the target
//   count alone, so every sidecar with the same member table maps a key to the same target.
// - Spread: targets take turns claiming entries, so each holds floor(M/N) or ceil(M/N) of them:
//   with M >= 20 N the busiest target's share is at most 1 + N/M <= 1.05 times the mean.
// - Movement: adding or removing one of N targets moves ~1/N of the keys at small N (1.02/N at
//   N = 8, 1.30/N at 64), but Maglev buys its exact balance with some stability: the change
//   cascades through other targets' claims, so the share moved grows with N (6.96/N at 1,000,
//   10.5/N at 40,000, i.e. 0.026% of keys). Rendezvous hashing (hash.h) moves exactly 1/N but
//   costs O(N) per pick. When N crosses a size step (N > M / 20 for the M in use: 3,276, 6,553,
//   13,106, ... targets), M changes and nearly every key moves, once.
// - Size: M is the smallest of kTableSizes with M >= 20 N: 65,537 entries (256 KiB) up to 3,276
//   targets, built in ~1.5 ms; 1,048,573 (4 MiB, plus 320 KiB of targets) at 40,000, built in
//   ~35-45 ms. A pick takes ~4 ns at either size. Immutable after Build: share one per snapshot
//   between threads (MemberTable::maglev()) rather than build one per thread.
#ifndef DROVER_SIDECAR_STICKY_MAGLEV_H_
#define DROVER_SIDECAR_STICKY_MAGLEV_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sidecar/sticky/hash.h"

namespace drover::sticky {

class MaglevTable {
 public:
  // The possible table sizes M: primes (so that every skip in 1..M-1 walks all entries) just
  // below or above powers of two. A fixed list rather than "the next prime above 20 N" so that M,
  // and with it every target's permutation, stays put while N changes within a step.
  static constexpr std::array<uint32_t, 9> kTableSizes = {
      65'537, 131'071, 262'139, 524'287, 1'048'573, 2'097'143, 4'194'301, 8'388'593, 16'777'213};
  // Entries per target at least, which bounds the busiest target's share at 1 + 1/20 of the mean.
  static constexpr uint32_t kMinEntriesPerTarget = 20;

  // The table over the set of `targets` (their order and duplicates do not matter). Takes
  // ~25-45 ns per entry: ~1.5 ms up to 3,276 targets, ~35-45 ms for 40,000.
  static MaglevTable Build(std::span<const Target> targets);
  // M for `target_count` distinct targets: 0 for none, else the smallest of kTableSizes that is
  // at least kMinEntriesPerTarget * target_count, or the largest one (beyond 838,860 targets the
  // spread bound no longer holds, and beyond 16,777,213 some targets get no entry).
  static uint32_t TableSizeFor(size_t target_count);

  // No targets: every Pick is -1.
  MaglevTable() = default;

  // The index into targets() of the target for a key (a StableHash), or -1 when there are none.
  int Pick(uint64_t key_hash) const {
    if (lookup_.empty()) return -1;
    return static_cast<int>(lookup_[key_hash % lookup_.size()]);
  }
  // The distinct targets, sorted by (member, slot).
  std::span<const Target> targets() const { return targets_; }
  // The number of distinct targets.
  size_t size() const { return targets_.size(); }
  // M, the number of lookup entries (0 without targets).
  size_t table_size() const { return lookup_.size(); }
  // Heap and object bytes held, for reporting.
  size_t memory_bytes() const;

 private:
  std::vector<Target> targets_;
  std::vector<uint32_t> lookup_;  // M entries, each an index into targets_
};

}  // namespace drover::sticky

#endif  // DROVER_SIDECAR_STICKY_MAGLEV_H_
