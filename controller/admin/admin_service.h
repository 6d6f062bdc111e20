// The admin API (proto/drover/v1/admin.proto): Scale, GetScale, GetStatus, ListMembers, Drain,
// Undrain and RestartWorkers for droverctl and any gRPC tool, and the Replica service through
// which controller replicas gather what only one of them knows (its connected sidecars).
//
//   AdminContext context{.kube = client, .membership = &service, .admin_token = token.get(), ...};
//   AdminService admin(context);
//   ReplicaService replica(context);
//   builder.RegisterService(&admin);
//   builder.RegisterService(&replica);
//
// Both are gRPC sync services: their handlers call the cluster API and wait for sidecars, which
// blocks, and the sync server gives each call its own thread for that. State that every replica
// must agree on goes through the cluster API (the drover.io/drain annotation, the scale
// subresource), so any replica gives the same answer.
#ifndef DROVER_CONTROLLER_ADMIN_ADMIN_SERVICE_H_
#define DROVER_CONTROLLER_ADMIN_ADMIN_SERVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/token_file.h"
#include "controller/kube/client.h"
#include "controller/kube/reflector.h"
#include "controller/push/membership_service.h"
#include "drover/v1/admin.grpc.pb.h"

namespace drover::admin {

struct AdminContext {
  kube::KubeClient* kube = nullptr;
  push::MembershipService* membership = nullptr;
  TokenFile* admin_token = nullptr;  // nullptr: the admin API refuses every call
  std::string namespace_name;        // the namespace the controller watches
  std::string self_name;             // this replica's pod name (POD_NAME), or the host name
  std::string self_address;          // this replica's gRPC address as peers reach it
  // Peer replicas: the controller's own pods, found by this label selector in
  // replica_namespace; "" means this replica is alone.
  std::string replica_selector;
  std::string replica_namespace;
  int grpc_port = 0;  // peers listen on the same port unless their pod says drover.io/grpc-port
  std::function<kube::ReflectorState()> watch_state;
};

// The other replicas, found through the cluster API, and clients to them.
class Replicas {
 public:
  explicit Replicas(const AdminContext& context) : context_(context) {}

  struct Peer {
    std::string name;
    std::string address;  // HOST:PORT
  };
  // Lists the controller's own pods now (Running, with an IP), without this replica.
  absl::StatusOr<std::vector<Peer>> Peers();
  drover::v1::Replica::Stub* Stub(const std::string& address);
  // Sets the admin token and a deadline on a call to a peer.
  void Prepare(grpc::ClientContext& call, absl::Duration timeout) const;

 private:
  const AdminContext& context_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<drover::v1::Replica::Stub>> stubs_
      ABSL_GUARDED_BY(mu_);
};

class AdminService final : public drover::v1::Admin::Service {
 public:
  explicit AdminService(AdminContext context);

  grpc::Status Scale(grpc::ServerContext* context, const drover::v1::ScaleRequest* request,
                     drover::v1::ScaleReply* reply) override;
  grpc::Status GetScale(grpc::ServerContext* context, const drover::v1::GetScaleRequest* request,
                        drover::v1::ScaleReply* reply) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const drover::v1::GetStatusRequest* request,
                         drover::v1::StatusReply* reply) override;
  grpc::Status ListMembers(grpc::ServerContext* context,
                           const drover::v1::ListMembersRequest* request,
                           drover::v1::ListMembersReply* reply) override;
  grpc::Status Drain(grpc::ServerContext* context, const drover::v1::DrainRequest* request,
                     drover::v1::DrainReply* reply) override;
  grpc::Status Undrain(grpc::ServerContext* context, const drover::v1::DrainRequest* request,
                       drover::v1::DrainReply* reply) override;
  grpc::Status RestartWorkers(grpc::ServerContext* context,
                              const drover::v1::RestartWorkersRequest* request,
                              grpc::ServerWriter<drover::v1::RestartProgress>* writer) override;

 private:
  grpc::Status SetDrain(grpc::ServerContext* context, const drover::v1::DrainRequest* request,
                        bool drain, drover::v1::DrainReply* reply);
  absl::StatusOr<std::string> Namespace(const std::string& requested) const;

  AdminContext context_;
  Replicas replicas_;
};

class ReplicaService final : public drover::v1::Replica::Service {
 public:
  explicit ReplicaService(AdminContext context) : context_(std::move(context)) {}

  grpc::Status LocalStatus(grpc::ServerContext* context,
                           const drover::v1::LocalStatusRequest* request,
                           drover::v1::LocalStatusReply* reply) override;
  grpc::Status ReloadMember(grpc::ServerContext* context,
                            const drover::v1::ReloadMemberRequest* request,
                            grpc::ServerWriter<drover::v1::ReloadProgress>* writer) override;

 private:
  AdminContext context_;
};

// absl::Status from the cluster API or below -> the gRPC status the admin API answers with.
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace drover::admin

#endif  // DROVER_CONTROLLER_ADMIN_ADMIN_SERVICE_H_
