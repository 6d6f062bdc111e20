#include "controller/push/membership_service.h"

#include <cstdio>
#include <deque>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/membership_version.h"

namespace drover::push {

using drover::v1::SubscribeRequest;
using drover::v1::SubscribeResponse;

namespace {

// gRPC's peer strings: "ipv4:10.0.0.5:41234", "ipv6:[fd00::5]:41234".
std::string PeerIp(const std::string& peer) {
  std::string_view rest(peer);
  if (rest.substr(0, 5) == "ipv4:") {
    rest.remove_prefix(5);
    return std::string(rest.substr(0, rest.rfind(':')));
  }
  if (rest.substr(0, 5) == "ipv6:") {
    rest.remove_prefix(5);
    rest = rest.substr(0, rest.rfind(':'));
    if (rest.size() >= 2 && rest.front() == '[') rest = rest.substr(1, rest.size() - 2);
    // A v4-mapped peer on a dual-stack listener.
    if (rest.substr(0, 7) == "::ffff:") rest.remove_prefix(7);
    return std::string(rest);
  }
  return "";
}

}  // namespace

// One sidecar's stream. Reads run one at a time (each OnReadDone starts the next read); writes
// one at a time (the service decides what to write next, under its mutex). Everything the
// service reads or changes lives in the fields below guarded by the service's mutex.
class SubscriberReactor final
    : public grpc::ServerBidiReactor<SubscribeRequest, SubscribeResponse> {
 public:
  SubscriberReactor(MembershipService* service, grpc::CallbackServerContext* context,
                    const grpc::Status& refused)
      : service_(service) {
    info.peer = context->peer();
    info.connected_at = absl::Now();
    if (!refused.ok()) {
      finished = true;
      Finish(refused);
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The sidecar closed its side, or the stream broke (keepalive, cancel, shutdown).
      RequestFinish(grpc::Status::OK);
      return;
    }
    grpc::Status error = Handle();
    if (!error.ok()) {
      RequestFinish(error);
      return;
    }
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    const SubscribeResponse* next = nullptr;
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&service_->mu_);
      write_in_flight = false;
      writing.reset();
      if (!ok) {
        finish_pending = finish_pending.value_or(grpc::Status::OK);
      }
      if (finish_pending) {
        finish = *finish_pending;
        finished = true;
      } else {
        next = service_->NextWrite(this);
      }
    }
    if (finish) {
      Finish(*finish);
    } else if (next != nullptr) {
      StartWrite(next);
    }
  }

  void OnDone() override {
    service_->Unregister(this);
    delete this;
  }

  // Guarded by the service's mutex.
  SubscriberInfo info;
  bool hello_done = false;
  bool registered = false;
  std::optional<std::string> group;  // unknown until the pod is seen in a published state
  uint64_t held_version = 0;         // what the sidecar said it holds (hello, ACK, NACK)
  absl::flat_hash_set<uint64_t> nacked;
  absl::flat_hash_map<std::string, uint64_t> unacked;  // nonce -> version
  bool write_in_flight = false;
  std::shared_ptr<const SubscribeResponse> writing;
  std::deque<std::shared_ptr<const SubscribeResponse>> commands;  // sent before any update
  std::optional<grpc::Status> finish_pending;
  bool finished = false;

 private:
  // Finishes the stream once no write is in flight.
  void RequestFinish(grpc::Status status) {
    bool finish_now = false;
    {
      absl::MutexLock lock(&service_->mu_);
      if (finished || finish_pending) return;
      if (write_in_flight) {
        finish_pending = std::move(status);
        return;
      }
      finished = true;
      finish_now = true;
    }
    if (finish_now) Finish(status);
  }

  grpc::Status Handle();
  grpc::Status HandleHello(const drover::v1::Hello& hello);

  MembershipService* const service_;
  SubscribeRequest request_;  // touched only by the read callbacks, one at a time
};

grpc::Status SubscriberReactor::Handle() {
  if (!request_.has_hello()) {
    absl::MutexLock lock(&service_->mu_);
    if (!hello_done) {
      return {grpc::StatusCode::INVALID_ARGUMENT,
              "the first message on a Subscribe stream must be a Hello"};
    }
  }
  switch (request_.kind_case()) {
    case SubscribeRequest::kHello:
      return HandleHello(request_.hello());
    case SubscribeRequest::kAck: {
      const SubscribeResponse* next = nullptr;
      {
        absl::MutexLock lock(&service_->mu_);
        auto it = unacked.find(request_.ack().nonce());
        if (it == unacked.end()) return grpc::Status::OK;  // stale or unknown: xDS ignores it
        uint64_t version = it->second;
        unacked.erase(it);
        held_version = version;
        std::string version_hex = VersionHex(version);
        service_->CountApplied(info.applied_version, version_hex);
        info.applied_version = version_hex;
        ++info.acks;
        if (service_->metrics_ != nullptr) {
          service_->metrics_->CountAck();
          if (group) {
            if (auto created = service_->CreatedAt(*group, version)) {
              service_->metrics_->ObservePush(absl::Now() - *created);
            }
          }
        }
        next = service_->NextWrite(this);
      }
      if (next != nullptr) StartWrite(next);
      return grpc::Status::OK;
    }
    case SubscribeRequest::kNack: {
      const drover::v1::Nack& nack = request_.nack();
      const SubscribeResponse* next = nullptr;
      {
        absl::MutexLock lock(&service_->mu_);
        auto it = unacked.find(nack.nonce());
        if (it == unacked.end()) return grpc::Status::OK;
        uint64_t version = it->second;
        unacked.erase(it);
        nacked.insert(version);
        ++info.nacks;
        info.last_error = nack.error();
        absl::StatusOr<uint64_t> applied = ParseVersionHex(nack.applied_version());
        held_version = applied.ok() ? *applied : 0;
        if (service_->metrics_ != nullptr) service_->metrics_->CountNack();
        std::fprintf(stderr, "drover-controller: sidecar %s refused version %s: %s\n",
                     info.pod.c_str(), VersionHex(version).c_str(), nack.error().c_str());
        next = service_->NextWrite(this);
      }
      if (next != nullptr) StartWrite(next);
      return grpc::Status::OK;
    }
    case SubscribeRequest::kReport: {
      absl::MutexLock lock(&service_->mu_);
      info.report = request_.report();
      return grpc::Status::OK;
    }
    case SubscribeRequest::KIND_NOT_SET:
      break;
  }
  return {grpc::StatusCode::INVALID_ARGUMENT, "empty SubscribeRequest"};
}

grpc::Status SubscriberReactor::HandleHello(const drover::v1::Hello& hello) {
  if (hello.pod_name().empty()) {
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "Hello.pod_name is empty (set --member-id or POD_NAME)"};
  }
  if (hello.worker_slots() == 0) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "Hello.worker_slots is 0"};
  }
  uint64_t held = 0;
  if (!hello.applied_version().empty()) {
    absl::StatusOr<uint64_t> parsed = ParseVersionHex(hello.applied_version());
    if (!parsed.ok()) {
      return {grpc::StatusCode::INVALID_ARGUMENT,
              absl::StrCat("Hello.applied_version: ", parsed.status().message())};
    }
    held = *parsed;
  }
  const SubscribeResponse* next = nullptr;
  {
    absl::MutexLock lock(&service_->mu_);
    if (hello_done) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "a second Hello on one Subscribe stream"};
    }
    if (hello.namespace_() != service_->options_.namespace_name) {
      return {grpc::StatusCode::FAILED_PRECONDITION,
              absl::StrCat("this controller watches namespace '", service_->options_.namespace_name,
                           "', not '", hello.namespace_(),
                           "': point --controller at the controller of that namespace")};
    }
    std::string pod = absl::StrCat(hello.namespace_(), "/", hello.pod_name());
    if (service_->options_.verify_peer_ip) {
      auto ip = service_->pod_ips_.find(pod);
      if (ip == service_->pod_ips_.end()) {
        return {grpc::StatusCode::FAILED_PRECONDITION,
                absl::StrCat("pod ", pod,
                             " is not among the pods this controller watches "
                             "(check its labels against --selector)")};
      }
      std::string peer_ip = PeerIp(info.peer);
      if (ip->second.empty() || peer_ip != ip->second) {
        return {grpc::StatusCode::PERMISSION_DENIED,
                absl::StrCat("this stream comes from ", peer_ip.empty() ? info.peer : peer_ip,
                             ", not from pod ", pod, "'s IP ",
                             ip->second.empty() ? "(none yet)" : ip->second)};
      }
    }
    hello_done = true;
    info.pod = std::move(pod);
    info.build_version = hello.build_version();
    info.worker_slots = hello.worker_slots();
    held_version = held;
    if (held != 0) {
      info.applied_version = VersionHex(held);
      service_->CountApplied("", info.applied_version);
    }
    service_->Register(this);
    next = service_->NextWrite(this);
  }
  if (next != nullptr) StartWrite(next);
  return grpc::Status::OK;
}

MembershipService::MembershipService(MembershipServiceOptions options, PushMetrics* metrics)
    : options_(std::move(options)), metrics_(metrics) {}

MembershipService::~MembershipService() = default;

grpc::ServerBidiReactor<SubscribeRequest, SubscribeResponse>* MembershipService::Subscribe(
    grpc::CallbackServerContext* context) {
  grpc::Status refused;
  if (options_.sidecar_token != nullptr) {
    auto it = context->client_metadata().find("authorization");
    std::string_view presented;
    if (it != context->client_metadata().end()) {
      presented = TokenFile::BearerToken(std::string_view(it->second.data(), it->second.size()));
    }
    if (presented.empty() || !options_.sidecar_token->Matches(presented)) {
      refused = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                             "Subscribe needs the sidecar token (drover-sidecar "
                             "--controller-token-file) as 'authorization: Bearer <token>'");
    }
  }
  return new SubscriberReactor(this, context, refused);
}

void MembershipService::Register(SubscriberReactor* reactor) {
  auto it = pod_groups_.find(reactor->info.pod);
  if (it != pod_groups_.end()) {
    reactor->group = it->second;
    reactor->info.group = it->second;
  }
  reactor->registered = true;
  subscribers_.insert(reactor);
  if (metrics_ != nullptr) metrics_->SetSubscribers(static_cast<double>(subscribers_.size()));
}

void MembershipService::Unregister(SubscriberReactor* reactor) {
  absl::MutexLock lock(&mu_);
  if (!reactor->registered) return;
  subscribers_.erase(reactor);
  CountApplied(reactor->info.applied_version, "");
  if (metrics_ != nullptr) metrics_->SetSubscribers(static_cast<double>(subscribers_.size()));
}

void MembershipService::CountApplied(const std::string& old_version,
                                     const std::string& new_version) {
  if (old_version == new_version) return;
  for (const auto& [version, delta] : {std::pair{&old_version, -1}, std::pair{&new_version, 1}}) {
    if (version->empty()) continue;
    int64_t& n = sidecars_by_version_[*version];
    n += delta;
    if (metrics_ != nullptr) metrics_->SetSidecarsAtVersion(*version, static_cast<double>(n));
    if (n <= 0) sidecars_by_version_.erase(*version);
  }
}

std::optional<absl::Time> MembershipService::CreatedAt(const std::string& group,
                                                       uint64_t version) const {
  auto it = groups_.find(group);
  if (it == groups_.end()) return std::nullopt;
  return it->second.history.CreatedAt(version);
}

std::shared_ptr<const SubscribeResponse> MembershipService::UpdateFor(GroupState& group,
                                                                      uint64_t held_version) {
  std::shared_ptr<const members::GroupTable> latest = group.history.latest();
  if (latest == nullptr || latest->version == held_version) return nullptr;
  std::shared_ptr<const members::GroupTable> base =
      held_version == 0 ? nullptr : group.history.Find(held_version);
  uint64_t key = base == nullptr ? 0 : held_version;
  if (auto it = group.built.find(key); it != group.built.end()) return it->second;

  auto response = std::make_shared<SubscribeResponse>();
  drover::v1::Update* update = response->mutable_update();
  update->set_version(latest->version_hex);
  update->set_nonce(absl::StrFormat("%x", next_nonce_++));
  update->set_group(latest->group);
  auto add_member = [update](const members::MemberEntry& entry) {
    drover::v1::Member* member = update->add_members();
    member->set_id(entry.id);
    member->set_address(entry.address);
    member->set_slots(entry.slots);
    member->set_state(entry.draining ? drover::v1::Member::DRAINING : drover::v1::Member::READY);
  };
  if (base == nullptr) {
    update->set_full(true);
    for (const members::MemberEntry& entry : latest->members) add_member(entry);
  } else {
    update->set_base_version(base->version_hex);
    members::Delta delta = members::ComputeDelta(*base, *latest);
    for (const members::MemberEntry* entry : delta.changed) add_member(*entry);
    for (std::string& id : delta.removed) update->add_removed(std::move(id));
  }
  group.built[key] = response;
  return response;
}

const SubscribeResponse* MembershipService::NextWrite(SubscriberReactor* reactor) {
  if (!reactor->hello_done || reactor->write_in_flight || reactor->finished ||
      reactor->finish_pending || shutting_down_) {
    return nullptr;
  }
  if (!reactor->commands.empty()) {
    reactor->writing = std::move(reactor->commands.front());
    reactor->commands.pop_front();
    reactor->write_in_flight = true;
    return reactor->writing.get();
  }
  // One update at a time: the next is built on the version the sidecar confirmed, so a NACK
  // never leaves a delta in flight whose base the sidecar refused. A slow sidecar thereby gets
  // the latest version when it answers, never the ones it missed meanwhile.
  if (!reactor->group || !reactor->unacked.empty()) return nullptr;
  auto group = groups_.find(*reactor->group);
  if (group == groups_.end()) return nullptr;
  std::shared_ptr<const members::GroupTable> latest = group->second.history.latest();
  if (latest == nullptr || latest->version == reactor->held_version ||
      reactor->nacked.contains(latest->version)) {
    return nullptr;
  }
  reactor->writing = UpdateFor(group->second, reactor->held_version);
  if (reactor->writing == nullptr) return nullptr;
  reactor->write_in_flight = true;
  reactor->unacked[reactor->writing->update().nonce()] = latest->version;
  return reactor->writing.get();
}

void MembershipService::Publish(const members::Membership& membership) {
  std::vector<std::pair<SubscriberReactor*, const SubscribeResponse*>> writes;
  {
    absl::MutexLock lock(&mu_);
    pod_groups_ = membership.pod_groups;
    pod_ips_ = membership.pod_ips;
    absl::Time now = absl::Now();
    for (const auto& [name, table] : membership.groups) {
      GroupState& state = groups_.try_emplace(name, options_.history_capacity).first->second;
      std::shared_ptr<const members::GroupTable> latest = state.history.latest();
      if (latest != nullptr && latest->version == table->version) continue;
      state.history.Add(table, now);
      state.built.clear();
      if (metrics_ != nullptr) metrics_->SetVersion(name, table->version_hex);
    }
    if (metrics_ != nullptr)
      metrics_->SetExcludedPods(static_cast<double>(membership.excluded.size()));
    for (SubscriberReactor* reactor : subscribers_) {
      if (!reactor->group) {
        auto it = pod_groups_.find(reactor->info.pod);
        if (it == pod_groups_.end()) continue;
        reactor->group = it->second;
        reactor->info.group = it->second;
      }
      if (const SubscribeResponse* next = NextWrite(reactor)) writes.emplace_back(reactor, next);
    }
  }
  for (auto& [reactor, response] : writes) reactor->StartWrite(response);
}

void MembershipService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
}

std::vector<SubscriberInfo> MembershipService::Subscribers() const {
  absl::MutexLock lock(&mu_);
  std::vector<SubscriberInfo> result;
  result.reserve(subscribers_.size());
  for (const SubscriberReactor* reactor : subscribers_) result.push_back(reactor->info);
  return result;
}

std::optional<SubscriberInfo> MembershipService::FindSubscriber(const std::string& pod) const {
  absl::MutexLock lock(&mu_);
  for (const SubscriberReactor* reactor : subscribers_) {
    if (reactor->info.pod == pod) return reactor->info;
  }
  return std::nullopt;
}

absl::Status MembershipService::SendReload(const std::string& pod, const std::string& command_id) {
  SubscriberReactor* target = nullptr;
  const SubscribeResponse* next = nullptr;
  {
    absl::MutexLock lock(&mu_);
    for (SubscriberReactor* reactor : subscribers_) {
      if (reactor->info.pod == pod && !reactor->finished && !reactor->finish_pending) {
        target = reactor;
      }
    }
    if (target == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("the sidecar of ", pod, " is not connected to this controller"));
    }
    auto command = std::make_shared<SubscribeResponse>();
    command->mutable_command()->set_id(command_id);
    command->mutable_command()->mutable_reload_workers();
    target->commands.push_back(std::move(command));
    next = NextWrite(target);
  }
  if (next != nullptr) target->StartWrite(next);
  return absl::OkStatus();
}

size_t MembershipService::subscriber_count() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

std::map<std::string, std::shared_ptr<const members::GroupTable>> MembershipService::LatestTables()
    const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::shared_ptr<const members::GroupTable>> result;
  for (const auto& [name, state] : groups_) result[name] = state.history.latest();
  return result;
}

}  // namespace drover::push
