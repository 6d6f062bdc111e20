#include "controller/admin/admin_service.h"

#include <algorithm>
#include <exception>
#include <map>
#include <optional>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "controller/members/member.h"
#include "cpprest/json.h"
#include "grpcpp/grpcpp.h"

namespace drover::admin {
namespace {

using drover::v1::MemberStatus;
using drover::v1::ReloadProgress;

constexpr absl::Duration kPeerTimeout = absl::Seconds(3);

grpc::Status Authorize(const grpc::ServerContext* context, TokenFile* token) {
  if (token == nullptr) {
    return {grpc::StatusCode::UNAUTHENTICATED,
            "the admin API is off: start drover-controller with --admin-token-file"};
  }
  auto it = context->client_metadata().find("authorization");
  std::string_view presented;
  if (it != context->client_metadata().end()) {
    presented = TokenFile::BearerToken(std::string_view(it->second.data(), it->second.size()));
  }
  if (presented.empty()) {
    return {grpc::StatusCode::UNAUTHENTICATED,
            "no 'authorization: Bearer <token>' metadata (droverctl --token-file or DROVER_TOKEN)"};
  }
  if (!token->Matches(presented)) {
    return {grpc::StatusCode::UNAUTHENTICATED, "wrong admin token"};
  }
  return grpc::Status::OK;
}

// Parses JSON at the cpprestsdk boundary; its exceptions stop here.
absl::StatusOr<web::json::value> ParseJson(const std::string& text) {
  try {
    return web::json::value::parse(text);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("bad JSON from the cluster API: ", e.what()));
  }
}

int32_t IntAt(const web::json::value& v, const char* object, const char* field) {
  if (!v.has_field(object)) return 0;
  const web::json::value& o = v.at(object);
  if (!o.is_object() || !o.has_field(field) || !o.at(field).is_integer()) return 0;
  return o.at(field).as_integer();
}

std::string StringAt(const web::json::value& v, const char* object, const char* field) {
  if (!v.has_field(object)) return "";
  const web::json::value& o = v.at(object);
  if (!o.is_object() || !o.has_field(field) || !o.at(field).is_string()) return "";
  return o.at(field).as_string();
}

absl::StatusOr<std::string> WorkloadPath(const std::string& ns, drover::v1::WorkloadKind kind,
                                         const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("the workload's name is empty");
  const char* resource = nullptr;
  switch (kind) {
    case drover::v1::DEPLOYMENT:
      resource = "deployments";
      break;
    case drover::v1::STATEFULSET:
      resource = "statefulsets";
      break;
    default:
      return absl::InvalidArgumentError("kind must be DEPLOYMENT or STATEFULSET");
  }
  return absl::StrCat("/apis/apps/v1/namespaces/", ns, "/", resource, "/", name, "/scale");
}

std::string KindName(drover::v1::WorkloadKind kind) {
  return kind == drover::v1::STATEFULSET ? "statefulset" : "deployment";
}

absl::Status ScaleReplyFrom(const std::string& body, drover::v1::ScaleReply* reply) {
  absl::StatusOr<web::json::value> scale = ParseJson(body);
  if (!scale.ok()) return scale.status();
  reply->set_replicas(IntAt(*scale, "spec", "replicas"));
  reply->set_ready_replicas(IntAt(*scale, "status", "replicas"));
  reply->set_selector(StringAt(*scale, "status", "selector"));
  return absl::OkStatus();
}

std::string NewCommandId() {
  absl::BitGen rng;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(rng));
}

// The sidecar side of a member's status, from what its stream said.
void FillConnected(const push::SubscriberInfo& info, const std::string& controller,
                   MemberStatus* m) {
  m->set_connected(true);
  m->set_controller(controller);
  m->set_applied_version(info.applied_version);
  m->set_build_version(info.build_version);
  m->set_workers_total(info.worker_slots);
  if (!info.report) return;
  const drover::v1::Report& r = *info.report;
  uint32_t ready = 0;
  uint64_t rss = 0;
  uint64_t restarts = 0;
  uint32_t outstanding = 0;
  for (const drover::v1::WorkerSlotReport& slot : r.slots()) {
    if (slot.state() == drover::v1::WorkerSlotReport::READY ||
        slot.state() == drover::v1::WorkerSlotReport::EXTERNAL) {
      ++ready;
    }
    rss += slot.rss_bytes();
    restarts += slot.restarts();
    outstanding += slot.outstanding_requests();
    *m->add_slots_detail() = slot;
  }
  m->set_workers_ready(ready);
  if (r.slots_size() > 0) m->set_workers_total(static_cast<uint32_t>(r.slots_size()));
  m->set_rss_bytes(rss);
  m->set_restarts(restarts);
  m->set_outstanding_requests(outstanding);
  m->set_requests_total(r.requests_total());
  m->set_open_connections(r.open_connections());
  if (r.has_reload()) *m->mutable_reload() = r.reload();
}

// Waits for the reload `command_id` of `pod` (connected here) to end, reporting each change.
absl::Status WaitLocalReload(push::MembershipService& membership, const std::string& pod,
                             const std::string& command_id, absl::Duration timeout,
                             const grpc::ServerContext* context,
                             const std::function<bool(const ReloadProgress&)>& on_progress) {
  absl::Time deadline = absl::Now() + timeout;
  std::string last;
  while (absl::Now() < deadline) {
    if (context->IsCancelled()) return absl::CancelledError("the client went away");
    std::optional<push::SubscriberInfo> info = membership.FindSubscriber(pod);
    if (!info) {
      return absl::UnavailableError(
          absl::StrCat("the sidecar of ", pod, " disconnected during its reload"));
    }
    if (info->report && info->report->has_reload() &&
        info->report->reload().command_id() == command_id) {
      const ReloadProgress& progress = info->report->reload();
      std::string serialized = progress.SerializeAsString();
      if (serialized != last) {
        last = std::move(serialized);
        if (!on_progress(progress)) return absl::CancelledError("the client went away");
      }
      if (progress.phase() == ReloadProgress::SUCCEEDED) return absl::OkStatus();
      if (progress.phase() == ReloadProgress::FAILED) {
        return absl::AbortedError(absl::StrCat(pod, ": reload failed: ", progress.error()));
      }
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(pod, ": the reload did not finish within ", absl::FormatDuration(timeout)));
}

// What this replica alone knows: its watch and the sidecars connected to it.
void FillLocalStatus(const AdminContext& context, drover::v1::LocalStatusReply* reply) {
  drover::v1::ReplicaStatus* r = reply->mutable_replica();
  r->set_name(context.self_name);
  r->set_address(context.self_address);
  r->set_reachable(true);
  if (context.watch_state) {
    kube::ReflectorState watch = context.watch_state();
    r->set_synced(watch.synced);
    r->set_watching(watch.watching);
    r->set_resource_version(watch.resource_version);
    r->set_relists(watch.relists);
    r->set_last_watch_error(watch.last_error);
  }
  std::vector<push::SubscriberInfo> subscribers = context.membership->Subscribers();
  r->set_subscribers(static_cast<uint32_t>(subscribers.size()));
  for (const push::SubscriberInfo& info : subscribers) {
    MemberStatus* m = reply->add_connected();
    m->set_id(info.pod.substr(info.pod.find('/') + 1));
    m->set_group(info.group);
    FillConnected(info, context.self_name, m);
  }
}

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return grpc::Status::OK;
    case absl::StatusCode::kNotFound:
      return {grpc::StatusCode::NOT_FOUND, message};
    case absl::StatusCode::kPermissionDenied:
      return {grpc::StatusCode::PERMISSION_DENIED,
              absl::StrCat("the cluster API refused the controller (check its Role): ", message)};
    case absl::StatusCode::kUnauthenticated:
      return {
          grpc::StatusCode::PERMISSION_DENIED,
          absl::StrCat("the cluster API did not accept the controller's credentials: ", message)};
    case absl::StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, message};
    case absl::StatusCode::kFailedPrecondition:
      return {grpc::StatusCode::FAILED_PRECONDITION, message};
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return {grpc::StatusCode::ABORTED, message};
    case absl::StatusCode::kResourceExhausted:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, message};
    case absl::StatusCode::kDeadlineExceeded:
      return {grpc::StatusCode::DEADLINE_EXCEEDED, message};
    case absl::StatusCode::kCancelled:
      return {grpc::StatusCode::CANCELLED, message};
    case absl::StatusCode::kUnavailable:
      return {grpc::StatusCode::UNAVAILABLE,
              absl::StrCat("the cluster API is unreachable: ", message)};
    default:
      return {grpc::StatusCode::INTERNAL, message};
  }
}

// ---- Replicas ----

absl::StatusOr<std::vector<Replicas::Peer>> Replicas::Peers() {
  std::vector<Peer> peers;
  if (context_.replica_selector.empty()) return peers;
  kube::ListOptions list;
  list.path = absl::StrCat("/api/v1/namespaces/", context_.replica_namespace, "/pods");
  list.label_selector = context_.replica_selector;
  list.limit = 0;
  absl::StatusOr<kube::ListPage> page = context_.kube->List(list);
  if (!page.ok()) return page.status();
  for (const std::string& item : page->items) {
    absl::StatusOr<kube::Pod> pod = kube::ParsePod(item);
    if (!pod.ok() || pod->name == context_.self_name || pod->phase != "Running" ||
        pod->pod_ip.empty() || !pod->deletion_timestamp.empty()) {
      continue;
    }
    uint32_t port = static_cast<uint32_t>(context_.grpc_port);
    if (auto it = pod->annotations.find("drover.io/grpc-port"); it != pod->annotations.end()) {
      uint32_t parsed = 0;
      if (absl::SimpleAtoi(it->second, &parsed) && parsed > 0 && parsed < 65536) port = parsed;
    }
    std::optional<std::string> address =
        members::CanonicalAddress(pod->pod_ip, static_cast<uint16_t>(port));
    if (address) peers.push_back({pod->name, *address});
  }
  std::sort(peers.begin(), peers.end(),
            [](const Peer& a, const Peer& b) { return a.name < b.name; });
  return peers;
}

drover::v1::Replica::Stub* Replicas::Stub(const std::string& address) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<drover::v1::Replica::Stub>& stub = stubs_[address];
  if (stub == nullptr) {
    stub = drover::v1::Replica::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }
  return stub.get();
}

void Replicas::Prepare(grpc::ClientContext& call, absl::Duration timeout) const {
  if (context_.admin_token != nullptr) {
    call.AddMetadata("authorization", absl::StrCat("Bearer ", context_.admin_token->Current()));
  }
  if (timeout != absl::InfiniteDuration()) {
    call.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
}

// ---- Admin ----

AdminService::AdminService(AdminContext context)
    : context_(std::move(context)), replicas_(context_) {}

absl::StatusOr<std::string> AdminService::Namespace(const std::string& requested) const {
  if (requested.empty() || requested == context_.namespace_name) return context_.namespace_name;
  return absl::InvalidArgumentError(absl::StrCat("this controller manages namespace '",
                                                 context_.namespace_name, "', not '", requested,
                                                 "': use the controller of that namespace"));
}

grpc::Status AdminService::Scale(grpc::ServerContext* context,
                                 const drover::v1::ScaleRequest* request,
                                 drover::v1::ScaleReply* reply) {
  if (grpc::Status s = Authorize(context, context_.admin_token); !s.ok()) return s;
  if (request->replicas() < 0) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "replicas must be 0 or more"};
  }
  absl::StatusOr<std::string> watched = Namespace(request->namespace_());
  if (!watched.ok()) return ToGrpc(watched.status());
  const std::string& ns = *watched;
  absl::StatusOr<std::string> path = WorkloadPath(ns, request->kind(), request->name());
  if (!path.ok()) return ToGrpc(path.status());
  absl::StatusOr<std::string> body = context_.kube->Patch(
      *path, absl::StrCat("{\"spec\":{\"replicas\":", request->replicas(), "}}"),
      "application/merge-patch+json");
  if (!body.ok()) {
    if (body.status().code() == absl::StatusCode::kNotFound) {
      return {grpc::StatusCode::NOT_FOUND,
              absl::StrCat(KindName(request->kind()), " ", ns, "/", request->name(), " not found")};
    }
    return ToGrpc(body.status());
  }
  reply->set_namespace_(ns);
  reply->set_kind(request->kind());
  reply->set_name(request->name());
  return ToGrpc(ScaleReplyFrom(*body, reply));
}

grpc::Status AdminService::GetScale(grpc::ServerContext* context,
                                    const drover::v1::GetScaleRequest* request,
                                    drover::v1::ScaleReply* reply) {
  if (grpc::Status s = Authorize(context, context_.admin_token); !s.ok()) return s;
  absl::StatusOr<std::string> watched = Namespace(request->namespace_());
  if (!watched.ok()) return ToGrpc(watched.status());
  const std::string& ns = *watched;
  absl::StatusOr<std::string> path = WorkloadPath(ns, request->kind(), request->name());
  if (!path.ok()) return ToGrpc(path.status());
  absl::StatusOr<std::string> body = context_.kube->Get(*path);
  if (!body.ok()) {
    if (body.status().code() == absl::StatusCode::kNotFound) {
      return {grpc::StatusCode::NOT_FOUND,
              absl::StrCat(KindName(request->kind()), " ", ns, "/", request->name(), " not found")};
    }
    return ToGrpc(body.status());
  }
  reply->set_namespace_(ns);
  reply->set_kind(request->kind());
  reply->set_name(request->name());
  return ToGrpc(ScaleReplyFrom(*body, reply));
}

grpc::Status AdminService::GetStatus(grpc::ServerContext* context,
                                     const drover::v1::GetStatusRequest* request,
                                     drover::v1::StatusReply* reply) {
  if (grpc::Status s = Authorize(context, context_.admin_token); !s.ok()) return s;
  absl::StatusOr<std::string> ns = Namespace(request->namespace_());
  if (!ns.ok()) return ToGrpc(ns.status());
  reply->set_namespace_(*ns);

  // What each replica knows: its own sidecars and watch.
  std::map<std::string, MemberStatus> connected;  // pod name -> sidecar side
  drover::v1::LocalStatusReply self;
  FillLocalStatus(context_, &self);
  *reply->add_replicas() = self.replica();
  for (const MemberStatus& m : self.connected()) connected[m.id()] = m;
  absl::StatusOr<std::vector<Replicas::Peer>> peers = replicas_.Peers();
  if (!peers.ok()) {
    drover::v1::ReplicaStatus* r = reply->add_replicas();
    r->set_name("(peers)");
    r->set_reachable(false);
    r->set_error(absl::StrCat("cannot list the controller's replicas: ", peers.status().message()));
  } else {
    for (const Replicas::Peer& peer : *peers) {
      grpc::ClientContext call;
      replicas_.Prepare(call, kPeerTimeout);
      drover::v1::LocalStatusReply remote;
      grpc::Status s = replicas_.Stub(peer.address)
                           ->LocalStatus(&call, drover::v1::LocalStatusRequest(), &remote);
      if (!s.ok()) {
        drover::v1::ReplicaStatus* r = reply->add_replicas();
        r->set_name(peer.name);
        r->set_address(peer.address);
        r->set_reachable(false);
        r->set_error(s.error_message());
        continue;
      }
      *reply->add_replicas() = remote.replica();
      for (const MemberStatus& m : remote.connected()) connected.emplace(m.id(), m);
    }
  }

  for (const auto& [group, table] : context_.membership->LatestTables()) {
    if (table == nullptr) continue;
    drover::v1::GroupStatus* g = reply->add_groups();
    g->set_group(group);
    g->set_version(table->version_hex);
    g->set_members(static_cast<uint32_t>(table->members.size()));
    uint32_t at_version = 0;
    for (const members::MemberEntry& entry : table->members) {
      MemberStatus* m = reply->add_members();
      if (auto it = connected.find(entry.id); it != connected.end()) *m = it->second;
      m->set_id(entry.id);
      m->set_group(group);
      m->set_state(entry.draining ? drover::v1::Member::DRAINING : drover::v1::Member::READY);
      m->set_address(entry.address);
      m->set_slots(entry.slots);
      m->set_drain_annotation(entry.drain_annotation);
      if (m->applied_version() == table->version_hex) ++at_version;
    }
    g->set_sidecars_at_version(at_version);
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::ListMembers(grpc::ServerContext* context,
                                       const drover::v1::ListMembersRequest* request,
                                       drover::v1::ListMembersReply* reply) {
  drover::v1::GetStatusRequest status_request;
  status_request.set_namespace_(request->namespace_());
  drover::v1::StatusReply status;
  if (grpc::Status s = GetStatus(context, &status_request, &status); !s.ok()) return s;
  for (const MemberStatus& m : status.members()) {
    if (request->group().empty() || m.group() == request->group()) *reply->add_members() = m;
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::SetDrain(grpc::ServerContext* context,
                                    const drover::v1::DrainRequest* request, bool drain,
                                    drover::v1::DrainReply* reply) {
  if (grpc::Status s = Authorize(context, context_.admin_token); !s.ok()) return s;
  absl::StatusOr<std::string> ns = Namespace(request->namespace_());
  if (!ns.ok()) return ToGrpc(ns.status());
  if (request->member().empty()) return {grpc::StatusCode::INVALID_ARGUMENT, "no member named"};
  std::string path = absl::StrCat("/api/v1/namespaces/", *ns, "/pods/", request->member());
  absl::StatusOr<std::string> current = context_.kube->Get(path);
  if (!current.ok()) {
    if (current.status().code() == absl::StatusCode::kNotFound) {
      return {grpc::StatusCode::NOT_FOUND,
              absl::StrCat("pod ", *ns, "/", request->member(), " not found")};
    }
    return ToGrpc(current.status());
  }
  absl::StatusOr<kube::Pod> pod = kube::ParsePod(*current);
  if (!pod.ok()) return ToGrpc(pod.status());
  auto it = pod->annotations.find(members::kDrainAnnotation);
  bool drained = it != pod->annotations.end() && it->second == "true";
  reply->set_member(request->member());
  reply->set_drain_annotation(drain);
  if (drained == drain) return grpc::Status::OK;
  // A merge patch of the one annotation: nothing else on the pod is touched, and every
  // replica sees it through its watch.
  std::string patch = drain ? absl::StrCat("{\"metadata\":{\"annotations\":{\"",
                                           members::kDrainAnnotation, "\":\"true\"}}}")
                            : absl::StrCat("{\"metadata\":{\"annotations\":{\"",
                                           members::kDrainAnnotation, "\":null}}}");
  absl::StatusOr<std::string> patched =
      context_.kube->Patch(path, patch, "application/merge-patch+json");
  if (!patched.ok()) return ToGrpc(patched.status());
  reply->set_changed(true);
  return grpc::Status::OK;
}

grpc::Status AdminService::Drain(grpc::ServerContext* context,
                                 const drover::v1::DrainRequest* request,
                                 drover::v1::DrainReply* reply) {
  return SetDrain(context, request, true, reply);
}

grpc::Status AdminService::Undrain(grpc::ServerContext* context,
                                   const drover::v1::DrainRequest* request,
                                   drover::v1::DrainReply* reply) {
  return SetDrain(context, request, false, reply);
}

grpc::Status AdminService::RestartWorkers(grpc::ServerContext* context,
                                          const drover::v1::RestartWorkersRequest* request,
                                          grpc::ServerWriter<drover::v1::RestartProgress>* writer) {
  if (grpc::Status s = Authorize(context, context_.admin_token); !s.ok()) return s;
  absl::StatusOr<std::string> ns = Namespace(request->namespace_());
  if (!ns.ok()) return ToGrpc(ns.status());
  if (request->all() == !request->member().empty()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "name one member, or ask for all"};
  }
  std::vector<std::string> targets;
  for (const auto& [group, table] : context_.membership->LatestTables()) {
    if (table == nullptr) continue;
    for (const members::MemberEntry& entry : table->members) {
      if (request->all() || entry.id == request->member()) targets.push_back(entry.id);
    }
  }
  std::sort(targets.begin(), targets.end());
  if (targets.empty()) {
    return {grpc::StatusCode::NOT_FOUND,
            request->all() ? absl::StrCat("namespace ", *ns, " has no members")
                           : absl::StrCat("member ", request->member(), " not found in namespace ",
                                          *ns, " (see droverctl members)")};
  }
  absl::Duration timeout = absl::Seconds(
      request->member_timeout_seconds() == 0 ? 300 : request->member_timeout_seconds());

  uint32_t done = 0;
  const auto total = static_cast<uint32_t>(targets.size());
  for (const std::string& member : targets) {
    std::optional<ReloadProgress> last;  // the member's latest progress, wherever it came from
    auto emit = [&](const ReloadProgress& progress) {
      last = progress;
      drover::v1::RestartProgress out;
      out.set_member(member);
      *out.mutable_reload() = progress;
      out.set_members_done(done);
      out.set_members_total(total);
      return writer->Write(out);
    };
    std::string pod = absl::StrCat(*ns, "/", member);
    std::string command_id = NewCommandId();
    absl::Status result = context_.membership->SendReload(pod, command_id);
    if (result.ok()) {
      result = WaitLocalReload(*context_.membership, pod, command_id, timeout, context, emit);
    } else if (result.code() == absl::StatusCode::kFailedPrecondition) {
      // Not connected here: the replica that holds its stream does it.
      absl::StatusOr<std::vector<Replicas::Peer>> peers = replicas_.Peers();
      bool found = false;
      if (peers.ok()) {
        for (const Replicas::Peer& peer : *peers) {
          grpc::ClientContext call;
          replicas_.Prepare(call, timeout + absl::Seconds(5));
          drover::v1::ReloadMemberRequest forward;
          forward.set_namespace_(*ns);
          forward.set_member(member);
          forward.set_timeout_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(timeout)));
          std::unique_ptr<grpc::ClientReader<ReloadProgress>> reader =
              replicas_.Stub(peer.address)->ReloadMember(&call, forward);
          ReloadProgress progress;
          bool any = false;
          while (reader->Read(&progress)) {
            any = true;
            if (!emit(progress)) call.TryCancel();
          }
          grpc::Status s = reader->Finish();
          if (!any && s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) continue;
          found = true;
          result = s.ok() ? absl::OkStatus()
                          : absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                                         s.error_message());
          break;
        }
      }
      if (!found) {
        result = absl::FailedPreconditionError(
            absl::StrCat("member ", member,
                         " has no sidecar connected to any controller replica; is its "
                         "drover-sidecar running with --controller?"));
      }
    }
    if (!result.ok()) return ToGrpc(result);
    ++done;
    // The member's own last report, now counted as done: whichever replica relayed it.
    ReloadProgress finished = last.value_or(ReloadProgress());
    finished.set_phase(ReloadProgress::SUCCEEDED);
    if (!emit(finished)) return {grpc::StatusCode::CANCELLED, "the client went away"};
  }
  return grpc::Status::OK;
}

// ---- Replica ----

grpc::Status ReplicaService::LocalStatus(grpc::ServerContext* context,
                                         const drover::v1::LocalStatusRequest* /*request*/,
                                         drover::v1::LocalStatusReply* reply) {
  if (grpc::Status s = Authorize(context, context_.admin_token); !s.ok()) return s;
  FillLocalStatus(context_, reply);
  return grpc::Status::OK;
}

grpc::Status ReplicaService::ReloadMember(grpc::ServerContext* context,
                                          const drover::v1::ReloadMemberRequest* request,
                                          grpc::ServerWriter<ReloadProgress>* writer) {
  if (grpc::Status s = Authorize(context, context_.admin_token); !s.ok()) return s;
  std::string pod =
      absl::StrCat(request->namespace_().empty() ? context_.namespace_name : request->namespace_(),
                   "/", request->member());
  std::string command_id = NewCommandId();
  if (absl::Status s = context_.membership->SendReload(pod, command_id); !s.ok()) return ToGrpc(s);
  absl::Duration timeout =
      absl::Seconds(request->timeout_seconds() == 0 ? 300 : request->timeout_seconds());
  return ToGrpc(WaitLocalReload(*context_.membership, pod, command_id, timeout, context,
                                [&](const ReloadProgress& p) { return writer->Write(p); }));
}

}  // namespace drover::admin
