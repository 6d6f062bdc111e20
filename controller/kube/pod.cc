#include "controller/kube/pod.h"

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "controller/kube/json.h"

namespace drover::kube {
namespace {

// A string-to-string map (labels, annotations); values of another type are an error.
absl::Status GetStringMap(const web::json::value& object, std::string_view name,
                          std::string_view where, absl::btree_map<std::string, std::string>& out) {
  absl::StatusOr<const web::json::value*> map = json::GetObject(object, name, where);
  if (!map.ok()) return map.status();
  if (*map == nullptr) return absl::OkStatus();
  for (const auto& [key, value] : (*map)->as_object()) {
    if (!value.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(where), ".", AsAbsl(name), "[\"", key, "\"] is not a string"));
    }
    out[key] = value.as_string();
  }
  return absl::OkStatus();
}

absl::Status ParseStatus(const web::json::value& status, Pod& pod) {
  if (absl::Status s = json::GetString(status, "phase", "status", pod.phase); !s.ok()) return s;
  if (absl::Status s = json::GetString(status, "podIP", "status", pod.pod_ip); !s.ok()) return s;
  absl::StatusOr<const web::json::value*> conditions =
      json::GetArray(status, "conditions", "status");
  if (!conditions.ok()) return conditions.status();
  if (*conditions == nullptr) return absl::OkStatus();
  for (const web::json::value& condition : (*conditions)->as_array()) {
    std::string type;
    std::string value;
    if (absl::Status s = json::GetString(condition, "type", "status.conditions[]", type); !s.ok()) {
      return s;
    }
    if (type != "Ready") continue;
    if (absl::Status s = json::GetString(condition, "status", "status.conditions[]", value);
        !s.ok()) {
      return s;
    }
    pod.ready = value == "True";
  }
  return absl::OkStatus();
}

absl::StatusOr<Pod> ParsePodValue(const web::json::value& value) {
  if (!value.is_object()) return absl::InvalidArgumentError("a pod must be a JSON object");
  absl::StatusOr<const web::json::value*> meta = json::GetObject(value, "metadata", "pod");
  if (!meta.ok()) return meta.status();
  if (*meta == nullptr) return absl::InvalidArgumentError("pod without metadata");
  Pod pod;
  const web::json::value& m = **meta;
  for (auto [field, out] :
       {std::pair{"namespace", &pod.namespace_name}, std::pair{"name", &pod.name},
        std::pair{"uid", &pod.uid}, std::pair{"resourceVersion", &pod.resource_version},
        std::pair{"creationTimestamp", &pod.creation_timestamp},
        std::pair{"deletionTimestamp", &pod.deletion_timestamp}}) {
    if (absl::Status s = json::GetString(m, field, "metadata", *out); !s.ok()) return s;
  }
  if (pod.name.empty()) return absl::InvalidArgumentError("pod without metadata.name");
  if (absl::Status s = GetStringMap(m, "labels", "metadata", pod.labels); !s.ok()) return s;
  if (absl::Status s = GetStringMap(m, "annotations", "metadata", pod.annotations); !s.ok()) {
    return s;
  }
  absl::StatusOr<const web::json::value*> status = json::GetObject(value, "status", "pod");
  if (!status.ok()) return status.status();
  if (*status != nullptr) {
    if (absl::Status s = ParseStatus(**status, pod); !s.ok()) return s;
  }
  return pod;
}

}  // namespace

std::string Pod::Key() const { return absl::StrCat(namespace_name, "/", name); }

absl::StatusOr<Pod> ParsePod(std::string_view json) {
  absl::StatusOr<web::json::value> value = json::Parse(json);
  if (!value.ok()) return value.status();
  absl::StatusOr<Pod> pod = ParsePodValue(*value);
  if (!pod.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not a pod: ", pod.status().message()));
  }
  return pod;
}

absl::StatusOr<std::string> ParseResourceVersion(std::string_view json) {
  absl::StatusOr<web::json::value> value = json::Parse(json);
  if (!value.ok()) return value.status();
  absl::StatusOr<const web::json::value*> meta = json::GetObject(*value, "metadata", "object");
  if (!meta.ok()) return meta.status();
  std::string rv;
  if (*meta != nullptr) {
    if (absl::Status s = json::GetString(**meta, "resourceVersion", "metadata", rv); !s.ok()) {
      return s;
    }
  }
  if (rv.empty()) return absl::InvalidArgumentError("object without metadata.resourceVersion");
  return rv;
}

}  // namespace drover::kube
