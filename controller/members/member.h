// From one pod object to one member of a member table, decided from that pod alone, so every
// controller replica (and a restarted controller) derives the same member from the same pod.
//
//   MemberRules rules{.default_peer_port = 8081};
//   Derived d = DeriveMember(pod, rules);
//   if (d.member) table_input.push_back(*d.member);
//   else if (!d.problem.empty()) LOG(WARNING) << pod.Key() << ": " << d.problem;
//
// A pod is a member when it is Running and has an IP. Its id is the pod name, its peer address
// the pod IP with the `drover.io/peer-port` annotation (else the controller's --peer-port), its
// slots the `drover.io/workers` annotation. It is READY when the pod is Ready, has no
// deletionTimestamp and no `drover.io/drain=true` annotation, DRAINING otherwise. Its group is
// the `app.kubernetes.io/name` label ("" for pods without it): a sidecar only ever receives its
// own group's table.
#ifndef DROVER_CONTROLLER_MEMBERS_MEMBER_H_
#define DROVER_CONTROLLER_MEMBERS_MEMBER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "controller/kube/pod.h"

namespace drover::members {

inline constexpr char kWorkersAnnotation[] = "drover.io/workers";
inline constexpr char kPeerPortAnnotation[] = "drover.io/peer-port";
inline constexpr char kDrainAnnotation[] = "drover.io/drain";
inline constexpr char kGroupLabel[] = "app.kubernetes.io/name";
inline constexpr uint32_t kMaxSlots = 1024;

struct MemberEntry {
  std::string id;       // the pod name
  std::string address;  // canonical "10.0.0.5:8081" or "[fd00::5]:8081"
  uint32_t slots = 0;
  bool draining = false;
  std::string group;               // app.kubernetes.io/name, "" for none
  std::string creation_timestamp;  // RFC 3339, decides which of two colliding pods stays
  std::string uid;
  std::string namespace_name;
  bool drain_annotation = false;  // drover.io/drain=true (the admin API's Drain), for status

  friend bool operator==(const MemberEntry&, const MemberEntry&) = default;
};

struct MemberRules {
  uint16_t default_peer_port = 8081;
};

struct Derived {
  std::optional<MemberEntry> member;
  // Why a pod that should be a member is not (a bad annotation); "" when the pod is simply not
  // a member (yet): not Running or no IP.
  std::string problem;
};

Derived DeriveMember(const kube::Pod& pod, const MemberRules& rules);

// "10.0.0.5" -> "10.0.0.5:8081", "fd00::5" -> "[fd00::5]:8081", in inet_ntop's canonical form;
// nullopt when `ip` is not an IP literal.
std::optional<std::string> CanonicalAddress(const std::string& ip, uint16_t port);

}  // namespace drover::members

#endif  // DROVER_CONTROLLER_MEMBERS_MEMBER_H_
