#include "sidecar/balance/balancer.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/strings.h"

namespace drover::balance {

absl::StatusOr<std::unique_ptr<BackendSet>> BackendSet::Parse(std::string_view list) {
  auto set = std::make_unique<BackendSet>();
  for (absl::string_view piece : absl::StrSplit(AsAbsl(list), ',', absl::SkipWhitespace())) {
    std::string_view item = AsStd(absl::StripAsciiWhitespace(piece));
    absl::StatusOr<net::SocketAddress> address = net::SocketAddress::Parse(item);
    if (!address.ok()) return address.status();
    set->backends_.push_back(std::make_unique<Backend>(std::string(item), *address));
  }
  if (set->backends_.empty()) return absl::InvalidArgumentError("no backends given");
  return set;
}

std::unique_ptr<BackendSet> BackendSet::ForSlots(const net::SocketAddress& host, int port_base,
                                                 int count) {
  auto set = std::make_unique<BackendSet>();
  set->passive_health_ = false;
  for (int i = 0; i < count; ++i) {
    net::SocketAddress address = host;
    address.set_port(static_cast<uint16_t>(port_base + i));
    auto backend = std::make_unique<Backend>(absl::StrCat("slot-", i), address);
    backend->up.store(false);
    set->backends_.push_back(std::move(backend));
  }
  return set;
}

bool BackendSet::AnyUp() const {
  for (const auto& b : backends_) {
    if (b->up.load(std::memory_order_relaxed)) return true;
  }
  return false;
}

absl::StatusOr<BalanceMode> ParseBalanceMode(std::string_view text) {
  if (text == "leastconn") return BalanceMode::kLeastConn;
  if (text == "roundrobin") return BalanceMode::kRoundRobin;
  if (text == "p2c") return BalanceMode::kP2C;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown balance mode '", AsAbsl(text), "': want leastconn, roundrobin or p2c"));
}

namespace {

bool Usable(const BackendSet& backends, size_t i, int exclude) {
  return static_cast<int>(i) != exclude && backends[i].up.load(std::memory_order_relaxed);
}

// Least outstanding requests; ties go round robin so an idle pool still spreads evenly.
class LeastConnBalancer : public Balancer {
 public:
  LeastConnBalancer(const BackendSet& backends, const metrics::ThreadStats& stats)
      : backends_(backends), stats_(stats) {}
  int Pick(int exclude) override {
    const size_t n = backends_.size();
    int best = -1;
    int64_t best_load = 0;
    for (size_t k = 0; k < n; ++k) {
      size_t i = (next_ + k) % n;
      if (!Usable(backends_, i, exclude)) continue;
      int64_t load = stats_.outstanding(i);
      if (best < 0 || load < best_load) {
        best = static_cast<int>(i);
        best_load = load;
      }
    }
    if (best >= 0) next_ = static_cast<size_t>(best) + 1;
    return best;
  }

 private:
  const BackendSet& backends_;
  const metrics::ThreadStats& stats_;
  size_t next_ = 0;
};

class RoundRobinBalancer : public Balancer {
 public:
  RoundRobinBalancer(const BackendSet& backends, uint64_t seed)
      : backends_(backends), next_(seed % backends.size()) {}
  int Pick(int exclude) override {
    const size_t n = backends_.size();
    for (size_t k = 0; k < n; ++k) {
      size_t i = (next_ + k) % n;
      if (!Usable(backends_, i, exclude)) continue;
      next_ = i + 1;
      return static_cast<int>(i);
    }
    return -1;
  }

 private:
  const BackendSet& backends_;
  size_t next_;
};

// Power of two choices: two random usable backends, the less loaded wins.
class P2CBalancer : public Balancer {
 public:
  P2CBalancer(const BackendSet& backends, const metrics::ThreadStats& stats, uint64_t seed)
      : backends_(backends), stats_(stats), rng_(std::seed_seq{seed}) {}
  int Pick(int exclude) override {
    const size_t n = backends_.size();
    int a = -1;
    int b = -1;
    for (int attempt = 0; attempt < 4 && (a < 0 || b < 0); ++attempt) {
      size_t i = absl::Uniform<size_t>(rng_, 0, n);
      if (!Usable(backends_, i, exclude)) continue;
      if (a < 0) {
        a = static_cast<int>(i);
      } else if (static_cast<int>(i) != a) {
        b = static_cast<int>(i);
      }
    }
    if (a < 0) {
      // Few usable backends: fall back to a scan so one up backend is always found.
      for (size_t i = 0; i < n; ++i) {
        if (Usable(backends_, i, exclude)) return static_cast<int>(i);
      }
      return -1;
    }
    if (b < 0) return a;
    return stats_.outstanding(b) < stats_.outstanding(a) ? b : a;
  }

 private:
  const BackendSet& backends_;
  const metrics::ThreadStats& stats_;
  absl::InsecureBitGen rng_;
};

}  // namespace

std::unique_ptr<Balancer> MakeBalancer(BalanceMode mode, const BackendSet& backends,
                                       const metrics::ThreadStats& stats, uint64_t seed) {
  switch (mode) {
    case BalanceMode::kRoundRobin:
      return std::make_unique<RoundRobinBalancer>(backends, seed);
    case BalanceMode::kP2C:
      return std::make_unique<P2CBalancer>(backends, stats, seed);
    case BalanceMode::kLeastConn:
      break;
  }
  return std::make_unique<LeastConnBalancer>(backends, stats);
}

}  // namespace drover::balance
