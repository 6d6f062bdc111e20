#include "droverctl/workload.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace drover::ctl {

namespace {

struct KindAlias {
  std::string_view alias;
  v1::WorkloadKind kind;
};

// The spellings kubectl accepts for these two resources.
constexpr std::array<KindAlias, 8> kKindAliases = {{
    {"deployment", v1::DEPLOYMENT},
    {"deployments", v1::DEPLOYMENT},
    {"deploy", v1::DEPLOYMENT},
    {"deployment.apps", v1::DEPLOYMENT},
    {"statefulset", v1::STATEFULSET},
    {"statefulsets", v1::STATEFULSET},
    {"sts", v1::STATEFULSET},
    {"statefulset.apps", v1::STATEFULSET},
}};

constexpr std::string_view kExpectedForm =
    "expected deployment/NAME or statefulset/NAME (also deploy/, sts/)";

// RFC 1123 subdomain: what the cluster API requires of Deployment and StatefulSet names.
bool IsDnsSubdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  for (char c : name) {
    if (!alnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<Workload> ParseWorkload(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", AsAbsl(text), "': ", AsAbsl(kExpectedForm)));
  }
  std::string_view type = text.substr(0, slash);
  std::string_view name = text.substr(slash + 1);
  Workload workload;
  for (const KindAlias& alias : kKindAliases) {
    if (EqualsIgnoreCase(type, alias.alias)) workload.kind = alias.kind;
  }
  if (workload.kind == v1::WORKLOAD_KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat("'", AsAbsl(text), "': unknown type '",
                                                   AsAbsl(type), "'; ", AsAbsl(kExpectedForm)));
  }
  if (!IsDnsSubdomain(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", AsAbsl(text), "': '", AsAbsl(name),
        "' is not a valid name (lower-case letters, digits, '-' and '.'; 253 at most)"));
  }
  workload.name = std::string(name);
  return workload;
}

std::string ResourceName(v1::WorkloadKind kind, std::string_view name) {
  std::string_view type = kind == v1::STATEFULSET ? "statefulset.apps" : "deployment.apps";
  return absl::StrCat(AsAbsl(type), "/", AsAbsl(name));
}

}  // namespace drover::ctl
