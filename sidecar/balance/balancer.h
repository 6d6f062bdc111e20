// Backends and the per-thread choice of one for each request.
//
//   BackendSet backends = ...;                       // shared, immutable list, atomic health
//   auto balancer = MakeBalancer(BalanceMode::kLeastConn, backends, stats, seed);
//   int b = balancer->Pick(/*exclude=*/-1);          // -1: no backend is up
//
// Each event-loop thread has its own balancer reading its own outstanding-request counts, so
// picking takes no lock and touches no other thread's memory.
#ifndef DROVER_SIDECAR_BALANCE_BALANCER_H_
#define DROVER_SIDECAR_BALANCE_BALANCER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sidecar/metrics/stats.h"
#include "sidecar/net/socket.h"

namespace drover::balance {

struct Backend {
  Backend(std::string backend_name, net::SocketAddress backend_address)
      : name(std::move(backend_name)), address(backend_address) {}
  std::string name;
  net::SocketAddress address;
  // Written by the health checker and by data-path threads that see a connect fail; read by
  // every balancer.
  std::atomic<bool> up{true};
};

// The backends in a fixed order; indices are stable for the life of the set.
class BackendSet {
 public:
  // Parses "host:port,host:port".
  static absl::StatusOr<std::unique_ptr<BackendSet>> Parse(std::string_view list);
  size_t size() const { return backends_.size(); }
  Backend& operator[](size_t i) const { return *backends_[i]; }
  bool AnyUp() const;

 private:
  std::vector<std::unique_ptr<Backend>> backends_;
};

enum class BalanceMode : uint8_t { kLeastConn, kRoundRobin, kP2C };
absl::StatusOr<BalanceMode> ParseBalanceMode(std::string_view text);

class Balancer {
 public:
  virtual ~Balancer() = default;
  // A backend that is up and is not `exclude`, or -1 when there is none.
  virtual int Pick(int exclude) = 0;
};

std::unique_ptr<Balancer> MakeBalancer(BalanceMode mode, const BackendSet& backends,
                                       const metrics::ThreadStats& stats, uint64_t seed);

}  // namespace drover::balance

#endif  // DROVER_SIDECAR_BALANCE_BALANCER_H_
