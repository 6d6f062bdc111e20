#include "controller/members/member.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace drover::members {
namespace {

const std::string* Find(const absl::btree_map<std::string, std::string>& map,
                        const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? nullptr : &it->second;
}

}  // namespace

std::optional<std::string> CanonicalAddress(const std::string& ip, uint16_t port) {
  char text[INET6_ADDRSTRLEN] = {0};
  in_addr v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    inet_ntop(AF_INET, &v4, text, sizeof(text));
    return absl::StrCat(text, ":", port);
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    inet_ntop(AF_INET6, &v6, text, sizeof(text));
    return absl::StrCat("[", text, "]:", port);
  }
  return std::nullopt;
}

Derived DeriveMember(const kube::Pod& pod, const MemberRules& rules) {
  Derived derived;
  if (pod.phase != "Running" || pod.pod_ip.empty()) return derived;

  const std::string* workers = Find(pod.annotations, kWorkersAnnotation);
  uint32_t slots = 0;
  if (workers == nullptr) {
    derived.problem = absl::StrCat("no ", kWorkersAnnotation, " annotation");
    return derived;
  }
  if (!absl::SimpleAtoi(*workers, &slots) || slots == 0 || slots > kMaxSlots) {
    derived.problem =
        absl::StrCat(kWorkersAnnotation, "='", *workers, "' is not a slot count in 1..", kMaxSlots);
    return derived;
  }

  uint16_t port = rules.default_peer_port;
  if (const std::string* peer_port = Find(pod.annotations, kPeerPortAnnotation)) {
    uint32_t parsed = 0;
    if (!absl::SimpleAtoi(*peer_port, &parsed) || parsed == 0 || parsed > 65535) {
      derived.problem =
          absl::StrCat(kPeerPortAnnotation, "='", *peer_port, "' is not a port in 1..65535");
      return derived;
    }
    port = static_cast<uint16_t>(parsed);
  }

  std::optional<std::string> address = CanonicalAddress(pod.pod_ip, port);
  if (!address) {
    derived.problem = absl::StrCat("podIP '", pod.pod_ip, "' is not an IP address");
    return derived;
  }

  const std::string* drain = Find(pod.annotations, kDrainAnnotation);
  const std::string* group = Find(pod.labels, kGroupLabel);
  MemberEntry& member = derived.member.emplace();
  member.id = pod.name;
  member.address = *std::move(address);
  member.slots = slots;
  member.draining =
      !pod.ready || !pod.deletion_timestamp.empty() || (drain != nullptr && *drain == "true");
  member.group = group == nullptr ? "" : *group;
  member.creation_timestamp = pod.creation_timestamp;
  member.uid = pod.uid;
  member.namespace_name = pod.namespace_name;
  member.drain_annotation = drain != nullptr && *drain == "true";
  return derived;
}

}  // namespace drover::members
