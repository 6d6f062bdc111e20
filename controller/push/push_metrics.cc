#include "controller/push/push_metrics.h"

namespace drover::push {
namespace {

prometheus::Histogram::BucketBoundaries PushBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10};
}

}  // namespace

PushMetrics::PushMetrics(prometheus::Registry& registry)
    : subscribers_(prometheus::BuildGauge()
                       .Name("drover_controller_subscribers")
                       .Help("Sidecar Subscribe streams open now.")
                       .Register(registry)
                       .Add({})),
      version_info_(prometheus::BuildGauge()
                        .Name("drover_controller_version_info")
                        .Help("1 for the latest member-table version of each app group "
                              "(16 hex digits).")
                        .Register(registry)),
      push_seconds_(prometheus::BuildHistogram()
                        .Name("drover_controller_push_seconds")
                        .Help("From a version's creation to a sidecar's ACK of it.")
                        .Register(registry)
                        .Add({}, PushBuckets())),
      acks_(prometheus::BuildCounter()
                .Name("drover_controller_updates_total")
                .Help("Updates answered by sidecars, by result.")
                .Register(registry)
                .Add({{"result", "ack"}})),
      nacks_(prometheus::BuildCounter()
                 .Name("drover_controller_updates_total")
                 .Help("Updates answered by sidecars, by result.")
                 .Register(registry)
                 .Add({{"result", "nack"}})),
      sidecars_(prometheus::BuildGauge()
                    .Name("drover_controller_sidecars")
                    .Help("Connected sidecars by the member-table version they applied.")
                    .Register(registry)),
      excluded_pods_(prometheus::BuildGauge()
                         .Name("drover_controller_excluded_pods")
                         .Help("Pods left out of their member table (a member-hash collision "
                               "or a bad drover.io annotation); see the controller's log.")
                         .Register(registry)
                         .Add({})) {}

void PushMetrics::SetVersion(const std::string& group, const std::string& version_hex) {
  absl::MutexLock lock(&mu_);
  auto it = version_by_group_.find(group);
  if (it != version_by_group_.end()) version_info_.Remove(it->second);
  version_by_group_[group] = &version_info_.Add({{"group", group}, {"version", version_hex}});
  version_by_group_[group]->Set(1);
}

void PushMetrics::SetSidecarsAtVersion(const std::string& version_hex, double n) {
  absl::MutexLock lock(&mu_);
  auto it = sidecars_by_version_.find(version_hex);
  if (n <= 0) {
    if (it != sidecars_by_version_.end()) {
      sidecars_.Remove(it->second);
      sidecars_by_version_.erase(it);
    }
    return;
  }
  if (it == sidecars_by_version_.end()) {
    it =
        sidecars_by_version_.emplace(version_hex, &sidecars_.Add({{"version", version_hex}})).first;
  }
  it->second->Set(n);
}

}  // namespace drover::push
