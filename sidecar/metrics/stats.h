// Per-thread statistics and their Prometheus exposition.
//
// Each event-loop thread owns one ThreadStats and is its only writer, so counting on the
// request path is a plain load and store of a relaxed atomic: no lock and no shared cache
// line. The admin thread reads every ThreadStats when /metrics is scraped and sums them
// (StatsCollector is a prometheus::Collectable, serialized by prometheus-cpp).
#ifndef DROVER_SIDECAR_METRICS_STATS_H_
#define DROVER_SIDECAR_METRICS_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "prometheus/collectable.h"

namespace drover::metrics {

// Why a request or connection failed; the `reason` label of drover_errors_total.
enum class ErrorReason : uint8_t {
  kBadRequest,      // request failed to parse (400)
  kHeadTooLarge,    // 431
  kClientTimeout,   // request head not received in time (408)
  kIdleTimeout,     // keep-alive connection closed after idling (not an error for the client)
  kClientReset,     // client went away mid-request
  kMaxConnections,  // connection refused at accept
  kBackendRefused,  // connect failed
  kBackendConnectTimeout,
  kBackendResponseTimeout,  // 504
  kBackendReset,            // backend closed or reset mid-response
  kBadResponse,             // backend response failed to parse (502)
  kNoBackend,               // none up (503)
  kRetried,                 // request retried on another backend
  kPeerFailed,              // another member's sidecar was unreachable: served here instead
  kFdLimit,                 // accept failed for want of descriptors: accepting paused 100 ms
  kClientBodyTimeout,       // request body stalled past --client-body-timeout (408)
  kBadHop,                  // a request on the peer listener with a wrong Drover-Hop token (403)
  kQueueFull,               // --max-queue requests already waited (503)
  kQueueTimeout,            // waited --queue-timeout for a worker (503)
  kBackendBusy,             // connect found the backend's listen queue full (EAGAIN; 503)
  kCount,
};
std::string_view ErrorReasonName(ErrorReason reason);

// Upper bounds in seconds of drover_http_request_duration_seconds.
inline constexpr std::array<double, 16> kLatencyBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

class ThreadStats {
 public:
  explicit ThreadStats(size_t backend_count);

  void CountRequest(int status, int64_t duration_ns) {
    if (status < 100 || status > 599) status = 599;
    Add(requests_by_code_[status], 1);
    double seconds = static_cast<double>(duration_ns) * 1e-9;
    size_t bucket = 0;
    while (bucket < kLatencyBuckets.size() && seconds > kLatencyBuckets[bucket]) ++bucket;
    Add(latency_buckets_[bucket], 1);
    Add(latency_sum_ns_, static_cast<uint64_t>(duration_ns));
  }
  void CountError(ErrorReason reason) { Add(errors_[static_cast<size_t>(reason)], 1); }
  // Sticky decisions by result, indexed like sticky::StickyResult (see StatsCollector).
  static constexpr size_t kStickyResults = 6;
  void CountSticky(size_t result) { Add(sticky_[result], 1); }
  void AddClientBytes(uint64_t received, uint64_t sent) {
    Add(client_received_, received);
    Add(client_sent_, sent);
  }
  void AddBackendBytes(uint64_t received, uint64_t sent) {
    Add(backend_received_, received);
    Add(backend_sent_, sent);
  }
  void ConnectionOpened() { Add(active_connections_, 1); }
  void ConnectionClosed() { Sub(active_connections_, 1); }
  // Connections that became WebSocket/Upgrade or TCP tunnels: a drain does not wait for them
  // (the app closes them when it stops).
  void TunnelOpened() { Add(active_tunnels_, 1); }
  void TunnelClosed() { Sub(active_tunnels_, 1); }
  int64_t active_tunnels() const {
    return static_cast<int64_t>(active_tunnels_.load(std::memory_order_relaxed));
  }

  // --worker-max-inflight: requests waiting for a worker now (this thread's), and how long
  // each waited (granted or not).
  void QueueEntered() { Add(queued_, 1); }
  void QueueLeft(int64_t waited_ns) {
    Sub(queued_, 1);
    double seconds = static_cast<double>(waited_ns) * 1e-9;
    size_t bucket = 0;
    while (bucket < kLatencyBuckets.size() && seconds > kLatencyBuckets[bucket]) ++bucket;
    Add(queue_wait_buckets_[bucket], 1);
    Add(queue_wait_sum_ns_, static_cast<uint64_t>(waited_ns));
  }

  void CountAccessLogDropped() { Add(access_log_dropped_, 1); }

  // Outstanding requests per backend: also what this thread's least-connections balancer
  // reads, so a thread balances on its own counts without touching another thread's.
  int64_t outstanding(size_t backend) const {
    return static_cast<int64_t>(outstanding_[2 * backend].load(std::memory_order_relaxed) +
                                outstanding_[2 * backend + 1].load(std::memory_order_relaxed));
  }
  // Outstanding requests on the backend's generations of one parity (see Backend::ParityOf).
  int64_t outstanding_on(size_t backend, size_t parity) const {
    return static_cast<int64_t>(outstanding_[2 * backend + parity].load(std::memory_order_relaxed));
  }
  void RequestStarted(size_t backend, size_t parity) { Add(outstanding_[2 * backend + parity], 1); }
  void RequestFinished(size_t backend, size_t parity, bool answered) {
    Sub(outstanding_[2 * backend + parity], 1);
    if (answered) Add(served_[backend], 1);
  }
  // Responses counted by CountRequest (every status), for reports; reads 600 counters.
  uint64_t requests() const {
    uint64_t n = 0;
    for (const Counter& c : requests_by_code_) n += c.load(std::memory_order_relaxed);
    return n;
  }
  // Responses a backend (worker slot) completed, for recycling after --max-requests.
  uint64_t served(size_t backend) const { return served_[backend].load(std::memory_order_relaxed); }

 private:
  friend class StatsCollector;
  using Counter = std::atomic<uint64_t>;
  // Single writer: a relaxed load and store, not a locked read-modify-write.
  static void Add(Counter& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  static void Sub(Counter& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }

  std::array<Counter, 600> requests_by_code_{};
  std::array<Counter, kLatencyBuckets.size() + 1> latency_buckets_{};
  Counter latency_sum_ns_{0};
  std::array<Counter, static_cast<size_t>(ErrorReason::kCount)> errors_{};
  std::array<Counter, kStickyResults> sticky_{};
  Counter client_received_{0};
  Counter client_sent_{0};
  Counter backend_received_{0};
  Counter backend_sent_{0};
  Counter active_connections_{0};  // wraps below zero per thread; the sum is exact
  Counter active_tunnels_{0};
  Counter queued_{0};
  std::array<Counter, kLatencyBuckets.size() + 1> queue_wait_buckets_{};
  Counter queue_wait_sum_ns_{0};
  Counter access_log_dropped_{0};
  std::unique_ptr<Counter[]> outstanding_;  // [2 * backend + parity]
  std::unique_ptr<Counter[]> served_;
};

// Where the collector learns backend names and health.
struct BackendInfo {
  std::string name;
  const std::atomic<bool>* up;
};

class StatsCollector : public prometheus::Collectable {
 public:
  StatsCollector(std::vector<const ThreadStats*> threads, std::vector<BackendInfo> backends)
      : threads_(std::move(threads)), backends_(std::move(backends)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::vector<const ThreadStats*> threads_;
  std::vector<BackendInfo> backends_;
};

}  // namespace drover::metrics

#endif  // DROVER_SIDECAR_METRICS_STATS_H_
