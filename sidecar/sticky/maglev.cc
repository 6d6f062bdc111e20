#include "sidecar/sticky/maglev.h"

#include <algorithm>
#include <tuple>

namespace drover::sticky {
namespace {

// The TargetHash seeds of a target's permutation (ASCII "mg-offst" and "mg-skip!"). Part of the
// mapping every sidecar must agree on: changing one re-homes every hash-keyed session.
constexpr uint64_t kOffsetSeed = 0x6d672d6f66667374ULL;
constexpr uint64_t kSkipSeed = 0x6d672d736b697021ULL;

constexpr uint32_t Advance(uint32_t entry, uint32_t skip, uint32_t m) {
  entry += skip;  // both below m <= 2^24: no overflow
  return entry >= m ? entry - m : entry;
}

}  // namespace

uint32_t MaglevTable::TableSizeFor(size_t target_count) {
  if (target_count == 0) return 0;
  for (uint32_t m : kTableSizes) {
    if (m / kMinEntriesPerTarget >= target_count) return m;
  }
  return kTableSizes.back();
}

MaglevTable MaglevTable::Build(std::span<const Target> targets) {
  MaglevTable table;
  table.targets_.assign(targets.begin(), targets.end());
  std::sort(table.targets_.begin(), table.targets_.end(), [](const Target& a, const Target& b) {
    return std::tie(a.member, a.slot) < std::tie(b.member, b.slot);
  });
  table.targets_.erase(std::unique(table.targets_.begin(), table.targets_.end()),
                       table.targets_.end());
  table.targets_.shrink_to_fit();
  const size_t n = table.targets_.size();
  if (n == 0) return table;
  const uint32_t m = TableSizeFor(n);

  // Target i's permutation of the entries is offset, offset + skip, offset + 2 skip, ... (mod m);
  // m is prime and 0 < skip < m, so it visits every entry once. next[i] is the next to try.
  std::vector<uint32_t> next(n);
  std::vector<uint32_t> skip(n);
  for (size_t i = 0; i < n; ++i) {
    next[i] = static_cast<uint32_t>(TargetHash(table.targets_[i], kOffsetSeed) % m);
    skip[i] = static_cast<uint32_t>(TargetHash(table.targets_[i], kSkipSeed) % (m - 1) + 1);
  }

  // The paper's Pseudocode 1: targets take turns, each claiming the first free entry left in its
  // permutation, until the table is full; so each ends with floor(m/n) or ceil(m/n) entries. The
  // search for a free entry is the build's hot loop (~13 probes per entry at m = 1,048,573), so it
  // reads a bitmap of taken entries, 1/32 the size of the table, that stays in cache.
  std::vector<uint64_t> taken((m + 63) / 64);
  auto is_taken = [&taken](uint32_t e) { return ((taken[e >> 6] >> (e & 63)) & 1) != 0; };
  table.lookup_.resize(m);
  uint32_t filled = 0;
  for (;;) {
    for (size_t i = 0; i < n; ++i) {
      uint32_t entry = next[i];
      while (is_taken(entry)) entry = Advance(entry, skip[i], m);
      taken[entry >> 6] |= uint64_t{1} << (entry & 63);
      table.lookup_[entry] = static_cast<uint32_t>(i);
      next[i] = Advance(entry, skip[i], m);
      if (++filled == m) return table;
    }
  }
}

size_t MaglevTable::memory_bytes() const {
  return sizeof(*this) + targets_.capacity() * sizeof(Target) +
         lookup_.capacity() * sizeof(uint32_t);
}

}  // namespace drover::sticky
