// The hash modes' per-request pick and per-snapshot build, at the sizes issue 7 names: a small
// cluster (8 targets) and 10,000 members of 4 slots (40,000 targets). Rendezvous hashing, what
// the pick replaced, runs alongside for comparison.
//
//   ninja -C build/release maglev_bench && build/release/bench/micro/maglev_bench
#include <cstdint>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "sidecar/sticky/hash.h"
#include "sidecar/sticky/maglev.h"

namespace drover::sticky {
namespace {

std::vector<Target> Targets(int64_t n) {
  std::vector<Target> targets;
  targets.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    targets.push_back({MemberHash("web-" + std::to_string(i / 4)), static_cast<uint16_t>(i % 4)});
  }
  return targets;
}

// Session keys as a request brings them, already hashed; a power of two to cycle cheaply.
const std::vector<uint64_t>& KeyHashes() {
  static const std::vector<uint64_t> keys = [] {
    std::vector<uint64_t> out(1 << 16);
    for (size_t i = 0; i < out.size(); ++i) out[i] = StableHash("session-" + std::to_string(i));
    return out;
  }();
  return keys;
}

void PickWithMaglev(benchmark::State& state) {
  const MaglevTable table = MaglevTable::Build(Targets(state.range(0)));
  const std::vector<uint64_t>& keys = KeyHashes();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.Pick(keys[i++ & (keys.size() - 1)]));
  }
  state.counters["table_bytes"] = static_cast<double>(table.memory_bytes());
}
BENCHMARK(PickWithMaglev)->Arg(8)->Arg(40'000);

void PickWithRendezvous(benchmark::State& state) {
  const std::vector<Target> targets = Targets(state.range(0));
  const std::vector<uint64_t>& keys = KeyHashes();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(RendezvousPick(keys[i++ & (keys.size() - 1)], targets));
  }
}
BENCHMARK(PickWithRendezvous)->Arg(8)->Arg(40'000);

void BuildMaglev(benchmark::State& state) {
  const std::vector<Target> targets = Targets(state.range(0));
  for (auto _ : state) {
    MaglevTable table = MaglevTable::Build(targets);
    benchmark::DoNotOptimize(table.Pick(0));
  }
}
BENCHMARK(BuildMaglev)->Arg(8)->Arg(40'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace drover::sticky

BENCHMARK_MAIN();
