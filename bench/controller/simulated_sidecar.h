// One simulated sidecar: a Membership.Subscribe stream on gRPC's callback API that behaves as
// drover-sidecar's membership client does on the wire, without a data path behind it. It says
// Hello, ACKs every update at once (echoing nonce and version), NACKs a delta whose
// base_version is not the version it holds, and sends a Report when the swarm asks it to.
// It does not apply tables: it only tracks the version it holds.
//
//   SubscribeStub stub(channel);
//   auto sidecar = std::make_unique<SimulatedSidecar>(7, identity, &observer);
//   sidecar->Start(stub);       // Hello goes out; observer.OnReceived/OnAckSent follow
//   sidecar->SendReport(120);   // from any thread
//   sidecar->Stop();            // observer.OnStreamDone follows; then it may be destroyed
//
// Thousands of these share gRPC's few callback threads: nothing here blocks.
#ifndef DROVER_BENCH_CONTROLLER_SIMULATED_SIDECAR_H_
#define DROVER_BENCH_CONTROLLER_SIMULATED_SIDECAR_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "bench/controller/update_skim.h"
#include "drover/v1/membership.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_callback.h"
#include "grpcpp/support/status.h"

namespace drover::bench {

using SteadyClock = std::chrono::steady_clock;

// The stream's messages: typed requests out, raw bytes in (see update_skim.h for why).
using SubscribeStub = grpc::TemplatedGenericStub<drover::v1::SubscribeRequest, grpc::ByteBuffer>;

// "/drover.v1.Membership/Subscribe", from the generated service's name.
const std::string& SubscribeMethod();

// Who a simulated sidecar says it is in its Hello.
struct SidecarIdentity {
  std::string pod_name;
  std::string pod_namespace;
  std::string pod_uid;  // "" when unknown
  std::string pod_ip;
  uint32_t peer_port = 0;
  uint32_t worker_slots = 2;
  std::string build_version;
};

// What happened on one message from the controller.
struct ReceivedMessage {
  ResponseSummary summary;
  size_t message_bytes = 0;  // serialized size of the SubscribeResponse
  SteadyClock::time_point received;
  bool nacked = false;      // an update this sidecar refused
  std::string nack_error;   // why, as sent in the Nack
  std::string held_before;  // the version held when it arrived
};

// The swarm's side of its sidecars. Called on gRPC's callback threads, one call at a time per
// sidecar, never with the sidecar's lock held.
class SidecarObserver {
 public:
  virtual ~SidecarObserver() = default;
  // A message arrived and was checked (an Ack or Nack is queued for an update).
  virtual void OnReceived(int index, const ReceivedMessage& message) = 0;
  // The Ack of `version` left: handed to the transport at `sent`.
  virtual void OnAckSent(int index, const std::string& version, SteadyClock::time_point sent) = 0;
  // The stream ended: the controller closed it, it failed, or Stop() cancelled it.
  virtual void OnStreamDone(int index, const grpc::Status& status) = 0;
};

class SimulatedSidecar final
    : public grpc::ClientBidiReactor<drover::v1::SubscribeRequest, grpc::ByteBuffer> {
 public:
  SimulatedSidecar(int index, SidecarIdentity identity, SidecarObserver* observer);
  SimulatedSidecar(const SimulatedSidecar&) = delete;
  SimulatedSidecar& operator=(const SimulatedSidecar&) = delete;

  // Opens the stream on `stub`'s channel and sends the Hello. Once only.
  void Start(SubscribeStub& stub);
  // Queues a Report behind whatever is being written. Any thread; a no-op once stopping.
  void SendReport(uint64_t requests_total);
  // Cancels the stream. Any thread, any number of times; OnStreamDone follows once.
  void Stop();

  int index() const { return index_; }

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  struct Outgoing {
    drover::v1::SubscribeRequest message;
    bool is_ack = false;
    std::string version;  // of an Ack
  };

  // Queues `outgoing`; starts writing it when nothing else is. `outside_reaction`: the caller is
  // not one of this reactor's reactions, so the stream needs a hold while the write starts.
  void Enqueue(Outgoing outgoing, bool outside_reaction);
  // Drops the hold Start() took, once: without it the stream can finish.
  void ReleaseHold();

  const int index_;
  const SidecarIdentity identity_;
  SidecarObserver* const observer_;
  grpc::ClientContext context_;
  grpc::ByteBuffer incoming_;  // only touched by the read in flight

  absl::Mutex mu_;
  std::string held_version_ ABSL_GUARDED_BY(mu_);
  std::deque<Outgoing> queue_ ABSL_GUARDED_BY(mu_);
  Outgoing writing_ ABSL_GUARDED_BY(mu_);  // the message being written, while `write_busy_`
  bool write_busy_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace drover::bench

#endif  // DROVER_BENCH_CONTROLLER_SIMULATED_SIDECAR_H_
