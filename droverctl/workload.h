// The workloads `droverctl scale` acts on, named as kubectl names them: TYPE/NAME, where TYPE
// is deployment (deployments, deploy, deployment.apps) or statefulset (statefulsets, sts,
// statefulset.apps), in any case.
//
//   absl::StatusOr<Workload> workload = ParseWorkload("deploy/web");
//   // workload->kind == v1::DEPLOYMENT, workload->name == "web"
//   std::string shown = ResourceName(*workload);  // "deployment.apps/web", as kubectl prints it
#ifndef DROVER_DROVERCTL_WORKLOAD_H_
#define DROVER_DROVERCTL_WORKLOAD_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "drover/v1/admin.pb.h"

namespace drover::ctl {

struct Workload {
  v1::WorkloadKind kind = v1::WORKLOAD_KIND_UNSPECIFIED;
  std::string name;
};

// INVALID_ARGUMENT with a message that shows the expected form for anything else: no slash,
// an unknown type, an empty or malformed name (not a DNS-1123 subdomain, as the cluster API
// would refuse it anyway).
absl::StatusOr<Workload> ParseWorkload(std::string_view text);

// "deployment.apps/web", "statefulset.apps/db".
std::string ResourceName(v1::WorkloadKind kind, std::string_view name);
inline std::string ResourceName(const Workload& workload) {
  return ResourceName(workload.kind, workload.name);
}

}  // namespace drover::ctl

#endif  // DROVER_DROVERCTL_WORKLOAD_H_
