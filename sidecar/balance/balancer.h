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

#include <array>
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

// A backend: a fixed address (proxy-only mode) or a worker slot whose process, and so its
// port, changes on reloads. `target` packs (generation << 16 | port) so a data-path thread
// reads where to connect, and whether a pooled connection is still current, in one load.
struct Backend {
  Backend(std::string backend_name, net::SocketAddress backend_address)
      : name(std::move(backend_name)),
        address(backend_address),
        target(MakeTarget(0, backend_address.port())) {}
  static uint64_t MakeTarget(uint64_t generation, uint16_t port) {
    return (generation << 16) | port;
  }
  static uint16_t PortOf(uint64_t target) { return static_cast<uint16_t>(target & 0xffff); }
  // Requests on one generation and on the one before never share a parity, which is how the
  // supervisor waits for an old process's requests alone to finish.
  static size_t ParityOf(uint64_t target) { return (target >> 16) & 1; }
  net::SocketAddress AddressOf(uint64_t target_value) const {
    if (address.family() == AF_UNIX) return unix_sockets[ParityOf(target_value)];
    net::SocketAddress a = address;
    a.set_port(PortOf(target_value));
    return a;
  }

  std::string name;
  net::SocketAddress address;  // host, and the port of generation 0
  // Worker slots on Unix sockets (--worker-transport=unix): the socket of even and of odd
  // generations, set by the supervisor before any request; `address` is then the odd one.
  std::array<net::SocketAddress, 2> unix_sockets;
  std::atomic<uint64_t> target;
  // Written by the health checker or the supervisor, and by data-path threads that see a
  // connect fail when passive checks are on; read by every balancer.
  std::atomic<bool> up{true};
};

// The backends in a fixed order; indices are stable for the life of the set.
class BackendSet {
 public:
  // Parses "host:port,host:port".
  static absl::StatusOr<std::unique_ptr<BackendSet>> Parse(std::string_view list);
  // `count` worker slots at host:port_base+i, all down until the supervisor says ready.
  static std::unique_ptr<BackendSet> ForSlots(const net::SocketAddress& host, int port_base,
                                              int count);
  size_t size() const { return backends_.size(); }
  Backend& operator[](size_t i) const { return *backends_[i]; }
  bool AnyUp() const;
  // Whether a refused connect marks a backend down (proxy-only mode, where health checks
  // bring it back); the supervisor owns readiness of worker slots instead.
  bool passive_health() const { return passive_health_; }

 private:
  std::vector<std::unique_ptr<Backend>> backends_;
  bool passive_health_ = true;
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
