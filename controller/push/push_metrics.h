// The push side's Prometheus metrics (prometheus-cpp), registered once in the controller's
// registry and updated by the Membership service and the publisher.
//
//   prometheus::Registry registry;
//   PushMetrics metrics(registry);
//   metrics.SetVersion("web", "00000000000000ab");
#ifndef DROVER_CONTROLLER_PUSH_PUSH_METRICS_H_
#define DROVER_CONTROLLER_PUSH_PUSH_METRICS_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace drover::push {

class PushMetrics {
 public:
  explicit PushMetrics(prometheus::Registry& registry);

  void SetSubscribers(double n) { subscribers_.Set(n); }
  // drover_controller_version_info{group,version} 1 for the group's latest version only.
  void SetVersion(const std::string& group, const std::string& version_hex);
  void ObservePush(absl::Duration created_to_ack) {
    push_seconds_.Observe(absl::ToDoubleSeconds(created_to_ack));
  }
  void CountAck() { acks_.Increment(); }
  void CountNack() { nacks_.Increment(); }
  // drover_controller_sidecars{version}: sidecars whose last applied version is `version`.
  void SetSidecarsAtVersion(const std::string& version_hex, double n);
  void SetExcludedPods(double n) { excluded_pods_.Set(n); }

 private:
  prometheus::Gauge& subscribers_;
  prometheus::Family<prometheus::Gauge>& version_info_;
  prometheus::Histogram& push_seconds_;
  prometheus::Counter& acks_;
  prometheus::Counter& nacks_;
  prometheus::Family<prometheus::Gauge>& sidecars_;
  prometheus::Gauge& excluded_pods_;
  absl::Mutex mu_;
  std::map<std::string, prometheus::Gauge*> version_by_group_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, prometheus::Gauge*> sidecars_by_version_ ABSL_GUARDED_BY(mu_);
};

}  // namespace drover::push

#endif  // DROVER_CONTROLLER_PUSH_PUSH_METRICS_H_
