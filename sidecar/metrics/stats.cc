#include "sidecar/metrics/stats.h"

#include "absl/strings/str_cat.h"
#include "prometheus/metric_family.h"

namespace drover::metrics {

std::string_view ErrorReasonName(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::kBadRequest:
      return "bad_request";
    case ErrorReason::kHeadTooLarge:
      return "head_too_large";
    case ErrorReason::kClientTimeout:
      return "client_timeout";
    case ErrorReason::kIdleTimeout:
      return "idle_timeout";
    case ErrorReason::kClientReset:
      return "client_reset";
    case ErrorReason::kMaxConnections:
      return "max_connections";
    case ErrorReason::kBackendRefused:
      return "backend_refused";
    case ErrorReason::kBackendConnectTimeout:
      return "backend_connect_timeout";
    case ErrorReason::kBackendResponseTimeout:
      return "backend_response_timeout";
    case ErrorReason::kBackendReset:
      return "backend_reset";
    case ErrorReason::kBadResponse:
      return "bad_response";
    case ErrorReason::kNoBackend:
      return "no_backend";
    case ErrorReason::kRetried:
      return "retried";
    case ErrorReason::kPeerFailed:
      return "peer_failed";
    case ErrorReason::kFdLimit:
      return "fd_limit";
    case ErrorReason::kClientBodyTimeout:
      return "client_body_timeout";
    case ErrorReason::kBadHop:
      return "bad_hop";
    case ErrorReason::kQueueFull:
      return "queue_full";
    case ErrorReason::kQueueTimeout:
      return "queue_timeout";
    case ErrorReason::kBackendBusy:
      return "backend_busy";
    case ErrorReason::kCount:
      break;
  }
  return "unknown";
}

ThreadStats::ThreadStats(size_t backend_count)
    : outstanding_(std::make_unique<Counter[]>(2 * backend_count)),
      served_(std::make_unique<Counter[]>(backend_count)) {
  for (size_t i = 0; i < 2 * backend_count; ++i) outstanding_[i].store(0);
  for (size_t i = 0; i < backend_count; ++i) served_[i].store(0);
}

namespace {

uint64_t Load(const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); }

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

prometheus::ClientMetric Sample(double value, std::vector<prometheus::ClientMetric::Label> labels,
                                prometheus::MetricType type) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return metric;
}

// One histogram summed over the threads: cumulative bucket counts over kLatencyBuckets, and
// the sum of its nanoseconds in seconds. `buckets` and `sum_ns` name the ThreadStats members.
template <typename Buckets, typename Sum>
prometheus::ClientMetric SumHistogram(const std::vector<const ThreadStats*>& threads,
                                      Buckets ThreadStats::*buckets, Sum ThreadStats::*sum_ns) {
  prometheus::ClientMetric histogram;
  uint64_t cumulative = 0;
  uint64_t total_ns = 0;
  for (size_t b = 0; b <= kLatencyBuckets.size(); ++b) {
    for (const ThreadStats* t : threads) cumulative += Load((t->*buckets)[b]);
    prometheus::ClientMetric::Bucket bucket;
    bucket.cumulative_count = cumulative;
    bucket.upper_bound =
        b < kLatencyBuckets.size() ? kLatencyBuckets[b] : std::numeric_limits<double>::infinity();
    histogram.histogram.bucket.push_back(bucket);
  }
  for (const ThreadStats* t : threads) total_ns += Load(t->*sum_ns);
  histogram.histogram.sample_count = cumulative;
  histogram.histogram.sample_sum = static_cast<double>(total_ns) * 1e-9;
  return histogram;
}

}  // namespace

std::vector<prometheus::MetricFamily> StatsCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;

  auto requests = Family("drover_http_requests_total",
                         "HTTP requests answered to clients, by status code.", MetricType::Counter);
  for (int code = 100; code < 600; ++code) {
    uint64_t sum = 0;
    for (const ThreadStats* t : threads_) sum += Load(t->requests_by_code_[code]);
    if (sum == 0) continue;
    requests.metric.push_back(
        Sample(static_cast<double>(sum), {{"code", absl::StrCat(code)}}, MetricType::Counter));
  }
  out.push_back(std::move(requests));

  auto latency = Family("drover_http_request_duration_seconds",
                        "Time from a request head's arrival to the end of its response.",
                        MetricType::Histogram);
  latency.metric.push_back(
      SumHistogram(threads_, &ThreadStats::latency_buckets_, &ThreadStats::latency_sum_ns_));
  out.push_back(std::move(latency));

  auto active =
      Family("drover_active_connections", "Client connections open now.", MetricType::Gauge);
  uint64_t open = 0;
  for (const ThreadStats* t : threads_) open += Load(t->active_connections_);
  active.metric.push_back(
      Sample(static_cast<double>(static_cast<int64_t>(open)), {}, MetricType::Gauge));
  out.push_back(std::move(active));

  auto outstanding = Family("drover_backend_outstanding_requests",
                            "Requests sent to a backend and not yet answered.", MetricType::Gauge);
  auto up =
      Family("drover_backend_up", "1 when the backend passes health checks.", MetricType::Gauge);
  for (size_t b = 0; b < backends_.size(); ++b) {
    int64_t n = 0;
    for (const ThreadStats* t : threads_) n += t->outstanding(b);
    outstanding.metric.push_back(
        Sample(static_cast<double>(n), {{"backend", backends_[b].name}}, MetricType::Gauge));
    up.metric.push_back(Sample(backends_[b].up->load(std::memory_order_relaxed) ? 1 : 0,
                               {{"backend", backends_[b].name}}, MetricType::Gauge));
  }
  out.push_back(std::move(outstanding));
  out.push_back(std::move(up));

  auto bytes =
      Family("drover_bytes_total", "Bytes moved, by peer and direction.", MetricType::Counter);
  struct Row {
    const char* peer;
    const char* direction;
    ThreadStats::Counter ThreadStats::*field;
  };
  static constexpr Row kRows[] = {{"client", "received", &ThreadStats::client_received_},
                                  {"client", "sent", &ThreadStats::client_sent_},
                                  {"backend", "received", &ThreadStats::backend_received_},
                                  {"backend", "sent", &ThreadStats::backend_sent_}};
  for (const Row& row : kRows) {
    uint64_t n = 0;
    for (const ThreadStats* t : threads_) n += Load(t->*row.field);
    bytes.metric.push_back(Sample(static_cast<double>(n),
                                  {{"direction", row.direction}, {"peer", row.peer}},
                                  MetricType::Counter));
  }
  out.push_back(std::move(bytes));

  auto errors = Family("drover_errors_total", "Failed requests and connections, by reason.",
                       MetricType::Counter);
  for (size_t r = 0; r < static_cast<size_t>(ErrorReason::kCount); ++r) {
    uint64_t n = 0;
    for (const ThreadStats* t : threads_) n += Load(t->errors_[r]);
    errors.metric.push_back(
        Sample(static_cast<double>(n),
               {{"reason", std::string(ErrorReasonName(static_cast<ErrorReason>(r)))}},
               MetricType::Counter));
  }
  out.push_back(std::move(errors));

  auto sticky = Family("drover_sticky_decisions_total",
                       "Sticky-session routing decisions, by result.", MetricType::Counter);
  static constexpr const char* kStickyNames[ThreadStats::kStickyResults] = {
      "hit", "new", "remapped", "forwarded", "invalid", "no_key"};
  for (size_t r = 0; r < ThreadStats::kStickyResults; ++r) {
    uint64_t n = 0;
    for (const ThreadStats* t : threads_) n += Load(t->sticky_[r]);
    sticky.metric.push_back(
        Sample(static_cast<double>(n), {{"result", kStickyNames[r]}}, MetricType::Counter));
  }
  out.push_back(std::move(sticky));

  auto depth =
      Family("drover_queue_depth",
             "Requests waiting for a worker with room (--worker-max-inflight).", MetricType::Gauge);
  uint64_t queued = 0;
  for (const ThreadStats* t : threads_) queued += Load(t->queued_);
  depth.metric.push_back(
      Sample(static_cast<double>(static_cast<int64_t>(queued)), {}, MetricType::Gauge));
  out.push_back(std::move(depth));

  auto wait = Family("drover_queue_wait_seconds",
                     "Time requests waited for a worker with room, whether they got one or not.",
                     MetricType::Histogram);
  wait.metric.push_back(
      SumHistogram(threads_, &ThreadStats::queue_wait_buckets_, &ThreadStats::queue_wait_sum_ns_));
  out.push_back(std::move(wait));

  auto dropped =
      Family("drover_access_log_dropped_total",
             "Access log lines dropped because the output did not keep up.", MetricType::Counter);
  uint64_t dropped_lines = 0;
  for (const ThreadStats* t : threads_) dropped_lines += Load(t->access_log_dropped_);
  dropped.metric.push_back(Sample(static_cast<double>(dropped_lines), {}, MetricType::Counter));
  out.push_back(std::move(dropped));
  return out;
}

}  // namespace drover::metrics
