#include "controller/push/membership_service.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/membership_version.h"

namespace drover::push {

using drover::v1::SubscribeRequest;
using drover::v1::SubscribeResponse;

// One sidecar's stream. Reads run one at a time (each OnReadDone starts the next read); writes
// one at a time (the service decides what to write next, under its mutex). Everything the
// service reads or changes lives in the fields below guarded by the service's mutex.
class SubscriberReactor final
    : public grpc::ServerBidiReactor<SubscribeRequest, SubscribeResponse> {
 public:
  SubscriberReactor(MembershipService* service, grpc::CallbackServerContext* context)
      : service_(service) {
    info.peer = context->peer();
    info.connected_at = absl::Now();
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
  uint64_t held_version = 0;         // what the sidecar holds once every write so far applied
  absl::flat_hash_set<uint64_t> nacked;
  absl::flat_hash_map<std::string, uint64_t> unacked;  // nonce -> version
  bool write_in_flight = false;
  std::shared_ptr<const SubscribeResponse> writing;
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
    hello_done = true;
    info.pod = absl::StrCat(hello.namespace_(), "/", hello.pod_name());
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
  return new SubscriberReactor(this, context);
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
  if (!reactor->hello_done || !reactor->group || reactor->write_in_flight || reactor->finished ||
      reactor->finish_pending || shutting_down_) {
    return nullptr;
  }
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
  // A sidecar that never answers must not grow this without bound.
  if (reactor->unacked.size() > 64) reactor->unacked.clear();
  reactor->held_version = latest->version;
  return reactor->writing.get();
}

void MembershipService::Publish(const members::Membership& membership) {
  std::vector<std::pair<SubscriberReactor*, const SubscribeResponse*>> writes;
  {
    absl::MutexLock lock(&mu_);
    pod_groups_ = membership.pod_groups;
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
