// The slice of a Kubernetes Pod the controller decides membership from, parsed from the
// cluster API's JSON (a list item or a watch event's object).
//
//   absl::StatusOr<drover::kube::Pod> pod = drover::kube::ParsePod(event.object);
//   if (!pod.ok()) return pod.status();  // names what is missing or mistyped
//   if (pod->phase == "Running" && !pod->pod_ip.empty()) ...
//
// Only metadata.name is required; every other field may be absent (or null) and then keeps its
// zero value, because the API omits empty fields. A field of the wrong JSON type is an error
// rather than silently empty: it means the input is not a Pod.
#ifndef DROVER_CONTROLLER_KUBE_POD_H_
#define DROVER_CONTROLLER_KUBE_POD_H_

#include <string>
#include <string_view>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"

namespace drover::kube {

struct Pod {
  std::string namespace_name, name, uid, resource_version, creation_timestamp;  // RFC 3339
  absl::btree_map<std::string, std::string> labels, annotations;
  std::string phase;               // "Running", "Pending", ...
  std::string pod_ip;              // status.podIP, "" if none
  bool ready = false;              // status.conditions[type=Ready].status == "True"
  std::string deletion_timestamp;  // "" when not being deleted

  // "namespace/name", the store's key (client-go's MetaNamespaceKeyFunc).
  std::string Key() const;

  friend bool operator==(const Pod&, const Pod&) = default;
};

absl::StatusOr<Pod> ParsePod(std::string_view json);

// metadata.resourceVersion of any object (a BOOKMARK event's object carries only that).
absl::StatusOr<std::string> ParseResourceVersion(std::string_view json);

}  // namespace drover::kube

#endif  // DROVER_CONTROLLER_KUBE_POD_H_
