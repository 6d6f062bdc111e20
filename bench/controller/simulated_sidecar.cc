#include "bench/controller/simulated_sidecar.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "drover/v1/membership.grpc.pb.h"

namespace drover::bench {

const std::string& SubscribeMethod() {
  static const std::string* const method =
      new std::string(absl::StrCat("/", drover::v1::Membership::service_full_name(), "/Subscribe"));
  return *method;
}

SimulatedSidecar::SimulatedSidecar(int index, SidecarIdentity identity, SidecarObserver* observer)
    : index_(index), identity_(std::move(identity)), observer_(observer) {}

void SimulatedSidecar::Start(SubscribeStub& stub) {
  stub.PrepareBidiStreamingCall(&context_, SubscribeMethod(), grpc::StubOptions(), this);
  // Reports come from the swarm's timer thread, outside any reaction: the stream needs a hold
  // until Stop() (or the controller's end of the stream) says no more writes will start.
  AddHold();
  Outgoing hello;
  drover::v1::Hello* h = hello.message.mutable_hello();
  h->set_pod_name(identity_.pod_name);
  h->set_namespace_(identity_.pod_namespace);
  h->set_pod_uid(identity_.pod_uid);
  h->set_pod_ip(identity_.pod_ip);
  h->set_peer_port(identity_.peer_port);
  h->set_worker_slots(identity_.worker_slots);
  h->set_build_version(identity_.build_version);
  // applied_version stays "": a fresh sidecar, so the controller answers with a full table.
  Enqueue(std::move(hello), /*outside_reaction=*/false);  // before StartCall: batched with it
  StartRead(&incoming_);
  StartCall();
}

void SimulatedSidecar::SendReport(uint64_t requests_total) {
  Outgoing report;
  drover::v1::Report* r = report.message.mutable_report();
  for (uint32_t slot = 0; slot < identity_.worker_slots; ++slot) {
    drover::v1::WorkerSlotReport* s = r->add_slots();
    s->set_slot(slot);
    s->set_state(drover::v1::WorkerSlotReport::READY);
  }
  r->set_requests_total(requests_total);
  r->set_ready(true);
  Enqueue(std::move(report), /*outside_reaction=*/true);
}

void SimulatedSidecar::Stop() {
  context_.TryCancel();
  ReleaseHold();
}

void SimulatedSidecar::ReleaseHold() {
  {
    absl::MutexLock lock(&mu_);
    if (hold_released_) return;
    hold_released_ = true;
    queue_.clear();
  }
  RemoveHold();
}

void SimulatedSidecar::Enqueue(Outgoing outgoing, bool outside_reaction) {
  const drover::v1::SubscribeRequest* start = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (hold_released_) return;
    queue_.push_back(std::move(outgoing));
    if (write_busy_) return;
    write_busy_ = true;
    writing_ = std::move(queue_.front());
    queue_.pop_front();
    start = &writing_.message;
    // Between unlocking and StartWrite, another thread may drop the stream's own hold; this one
    // keeps the reactor alive until the write is started.
    if (outside_reaction) AddHold();
  }
  // Not under mu_: a reaction may run inside StartWrite on this thread.
  StartWrite(start);
  if (outside_reaction) RemoveHold();
}

void SimulatedSidecar::OnWriteDone(bool ok) {
  SteadyClock::time_point now = SteadyClock::now();
  bool was_ack = false;
  std::string version;
  const drover::v1::SubscribeRequest* next = nullptr;
  {
    absl::MutexLock lock(&mu_);
    was_ack = ok && writing_.is_ack;
    if (was_ack) version = std::move(writing_.version);
    if (!ok || queue_.empty()) {
      // A failed write means the stream is over; OnReadDone(false) and OnDone follow.
      write_busy_ = false;
      if (!ok) queue_.clear();
    } else {
      writing_ = std::move(queue_.front());
      queue_.pop_front();
      next = &writing_.message;
    }
  }
  if (next != nullptr) StartWrite(next);
  if (was_ack) observer_->OnAckSent(index_, version, now);
}

void SimulatedSidecar::OnReadDone(bool ok) {
  if (!ok) {
    // The controller ended the stream (or it failed): nothing more to write.
    ReleaseHold();
    return;
  }
  ReceivedMessage message;
  message.received = SteadyClock::now();
  message.message_bytes = incoming_.Length();
  absl::StatusOr<ResponseSummary> summary = SkimSubscribeResponse(incoming_);
  incoming_.Clear();
  if (!summary.ok()) {
    // No nonce to answer with: count it and keep reading, as a sidecar would log and go on.
    message.nack_error = std::string(summary.status().message());
    message.nacked = true;
    observer_->OnReceived(index_, message);
    StartRead(&incoming_);
    return;
  }
  message.summary = *std::move(summary);
  if (message.summary.kind == ResponseSummary::Kind::kUpdate) {
    const ResponseSummary& update = message.summary;
    Outgoing reply;
    {
      absl::MutexLock lock(&mu_);
      message.held_before = held_version_;
      if (update.version.empty()) {
        message.nack_error = "update without a version";
      } else if (!update.full && update.base_version != held_version_) {
        message.nack_error = absl::StrCat("delta from base_version '", update.base_version,
                                          "' but this sidecar holds '", held_version_, "'");
      }
      if (message.nack_error.empty()) held_version_ = update.version;
    }
    if (message.nack_error.empty()) {
      drover::v1::Ack* ack = reply.message.mutable_ack();
      ack->set_nonce(update.nonce);
      ack->set_version(update.version);
      reply.is_ack = true;
      reply.version = update.version;
    } else {
      message.nacked = true;
      drover::v1::Nack* nack = reply.message.mutable_nack();
      nack->set_nonce(update.nonce);
      nack->set_version(update.version);
      nack->set_error(message.nack_error);
      nack->set_applied_version(message.held_before);
    }
    // The observer hears of the update before its Ack can complete on another thread.
    observer_->OnReceived(index_, message);
    Enqueue(std::move(reply), /*outside_reaction=*/false);
  } else {
    observer_->OnReceived(index_, message);
  }
  StartRead(&incoming_);
}

void SimulatedSidecar::OnDone(const grpc::Status& status) {
  // The last reaction: the swarm may destroy this object once the observer has returned.
  observer_->OnStreamDone(index_, status);
}

}  // namespace drover::bench
