// The Membership gRPC service: one Subscribe stream per sidecar, each served by its own
// reactor (gRPC's callback API), with at most one write in flight per stream.
//
//   MembershipService service(options, &metrics);
//   builder.RegisterService(&service);
//   ...
//   service.Publish(BuildMembership(pods, rules));   // from the publisher, on every new state
//
// A stream's first message is a Hello naming the sidecar's pod; the service finds the pod's
// app group in the latest published state and sends that group's table: a delta when it still
// holds the version the sidecar names, else the whole table. After that, each new version of
// the group goes to the sidecar as soon as it has answered the previous one (ACK or NACK), as a
// delta from the version it confirmed. A slow or stuck sidecar never delays the others and
// never gets a queue of stale versions: when it answers it gets the latest version. A NACKed
// version is counted, logged with the sidecar's error, and never sent to that sidecar again.
//
// Threads: Publish runs on the publisher's thread, reactions on gRPC's threads; all state is
// behind one mutex (short critical sections, no gRPC call made while it is held).
#ifndef DROVER_CONTROLLER_PUSH_MEMBERSHIP_SERVICE_H_
#define DROVER_CONTROLLER_PUSH_MEMBERSHIP_SERVICE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/token_file.h"
#include "controller/members/history.h"
#include "controller/members/membership.h"
#include "controller/push/push_metrics.h"
#include "drover/v1/membership.grpc.pb.h"

namespace drover::push {

struct MembershipServiceOptions {
  std::string namespace_name;    // the namespace the controller watches; hellos must name it
  size_t history_capacity = 32;  // versions kept per group for deltas
  // --sidecar-token-file: streams must present it as a bearer token. nullptr: anyone may
  // subscribe (development only; the controller says so at start).
  TokenFile* sidecar_token = nullptr;
  // --verify-peer-ip: a hello must name a pod whose IP is the stream's peer address.
  bool verify_peer_ip = false;
};

// What one connected sidecar has said, for status and the admin API.
struct SubscriberInfo {
  std::string pod;  // "namespace/name"
  std::string group;
  std::string peer;  // the stream's peer address, as gRPC gives it
  std::string build_version;
  uint32_t worker_slots = 0;
  std::string applied_version;  // "" until its first ACK
  uint64_t acks = 0;
  uint64_t nacks = 0;
  std::string last_error;  // the last NACK's error
  std::optional<drover::v1::Report> report;
  absl::Time connected_at;
};

class SubscriberReactor;

class MembershipService final : public drover::v1::Membership::CallbackService {
 public:
  MembershipService(MembershipServiceOptions options, PushMetrics* metrics);
  ~MembershipService() override;

  grpc::ServerBidiReactor<drover::v1::SubscribeRequest, drover::v1::SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext* context) override;

  // A new cluster state: every group whose version changed goes to its subscribers.
  void Publish(const members::Membership& membership);
  // No write starts after this; call before the gRPC server shuts down.
  void Shutdown();

  std::vector<SubscriberInfo> Subscribers() const;
  // The subscriber serving pod "namespace/name", if one is connected here.
  std::optional<SubscriberInfo> FindSubscriber(const std::string& pod) const;
  // Sends a ReloadWorkers command with `command_id` to the pod's sidecar; FailedPrecondition
  // when it is not connected to this replica.
  absl::Status SendReload(const std::string& pod, const std::string& command_id);
  size_t subscriber_count() const;
  // The latest published table of every group.
  std::map<std::string, std::shared_ptr<const members::GroupTable>> LatestTables() const;

 private:
  friend class SubscriberReactor;

  struct GroupState {
    explicit GroupState(size_t capacity) : history(capacity) {}
    members::VersionHistory history;
    // Updates already built from a base version to the latest, shared by every stream that
    // needs the same one (0: the full table). Cleared when a new version arrives.
    absl::flat_hash_map<uint64_t, std::shared_ptr<const drover::v1::SubscribeResponse>> built;
  };

  // Both called with mu_ held, by the reactors.
  void Register(SubscriberReactor* reactor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unregister(SubscriberReactor* reactor);
  // The update that brings a sidecar holding `held_version` (0: none) to the group's latest,
  // or nullptr when there is nothing to send.
  std::shared_ptr<const drover::v1::SubscribeResponse> UpdateFor(GroupState& group,
                                                                 uint64_t held_version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Decides what `reactor` should write next; returns it with the write marked in flight, or
  // nullptr. The caller starts the write after releasing mu_.
  const drover::v1::SubscribeResponse* NextWrite(SubscriberReactor* reactor)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<absl::Time> CreatedAt(const std::string& group, uint64_t version) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountApplied(const std::string& old_version, const std::string& new_version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const MembershipServiceOptions options_;
  PushMetrics* const metrics_;
  mutable absl::Mutex mu_;
  std::map<std::string, GroupState> groups_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> pod_groups_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> pod_ips_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<SubscriberReactor*> subscribers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> sidecars_by_version_ ABSL_GUARDED_BY(mu_);
  uint64_t next_nonce_ ABSL_GUARDED_BY(mu_) = 1;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace drover::push

#endif  // DROVER_CONTROLLER_PUSH_MEMBERSHIP_SERVICE_H_
