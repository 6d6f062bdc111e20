#include "controller/kube/metrics.h"

#include <string>

#include "absl/strings/ascii.h"
#include "common/strings.h"

namespace drover::kube {
namespace {

// From a fast GET to a slow LIST of thousands of pods on a loaded server.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return buckets;
}

}  // namespace

KubeMetrics::KubeMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("drover_controller_kube_requests_total")
                    .Help("Requests to the cluster API, by verb and HTTP status ('error': none)")
                    .Register(registry)),
      request_seconds_(prometheus::BuildHistogram()
                           .Name("drover_controller_kube_request_seconds")
                           .Help("Cluster API request latency (watches: until the response head)")
                           .Register(registry)),
      relists_(prometheus::BuildCounter()
                   .Name("drover_controller_relists_total")
                   .Help("Full lists after the first one (watch expired, or stream lost)")
                   .Register(registry)
                   .Add({})) {
  auto& events = prometheus::BuildCounter()
                     .Name("drover_controller_watch_events_total")
                     .Help("Watch events received, by type")
                     .Register(registry);
  for (WatchEventType type :
       {WatchEventType::kAdded, WatchEventType::kModified, WatchEventType::kDeleted,
        WatchEventType::kBookmark, WatchEventType::kError}) {
    watch_events_[static_cast<size_t>(type)] =
        &events.Add({{"type", absl::AsciiStrToLower(AsAbsl(WatchEventTypeName(type)))}});
  }
}

void KubeMetrics::ObserveRequest(std::string_view verb, int http_status, absl::Duration latency) {
  const std::string code = http_status == 0 ? "error" : std::to_string(http_status);
  requests_.Add({{"verb", std::string(verb)}, {"code", code}}).Increment();
  request_seconds_.Add({{"verb", std::string(verb)}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(latency));
}

void KubeMetrics::CountWatchEvent(WatchEventType type) {
  watch_events_[static_cast<size_t>(type)]->Increment();
}

void KubeMetrics::CountRelist() { relists_.Increment(); }

}  // namespace drover::kube
