// The cluster API client's and the reflector's metrics, on a prometheus-cpp registry:
//
//   drover_controller_kube_requests_total{verb,code}   counter; verb list|watch|get|patch|put,
//                                                      code the HTTP status or "error" when no
//                                                      answer came (refused, reset, timed out)
//   drover_controller_kube_request_seconds{verb}       histogram; until the response head for
//                                                      a watch, the whole body otherwise
//   drover_controller_watch_events_total{type}         counter; added|modified|deleted|bookmark|
//                                                      error
//   drover_controller_relists_total                    counter; lists after the first one
//
//   prometheus::Registry registry;
//   KubeMetrics metrics(registry);
//   absl::StatusOr<std::unique_ptr<KubeClient>> client = NewKubeClient(config, &metrics);
//   Reflector reflector(client->get(), &store, options, &metrics);
//
// Thread-safe; every user takes it as a nullable pointer (nullptr: no metrics).
#ifndef DROVER_CONTROLLER_KUBE_METRICS_H_
#define DROVER_CONTROLLER_KUBE_METRICS_H_

#include <array>
#include <string_view>

#include "absl/time/time.h"
#include "controller/kube/client.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace drover::kube {

class KubeMetrics {
 public:
  explicit KubeMetrics(prometheus::Registry& registry);

  // `http_status` 0 means no HTTP answer (counted as code="error").
  void ObserveRequest(std::string_view verb, int http_status, absl::Duration latency);
  void CountWatchEvent(WatchEventType type);
  void CountRelist();

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_seconds_;
  std::array<prometheus::Counter*, 5> watch_events_{};  // by WatchEventType
  prometheus::Counter& relists_;
};

}  // namespace drover::kube

#endif  // DROVER_CONTROLLER_KUBE_METRICS_H_
