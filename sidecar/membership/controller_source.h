// The member table from drover-controller: one gRPC Subscribe stream (proto/drover/v1/
// membership.proto) to one of the controllers, failing over between them and reconnecting with
// jittered backoff. Each update is applied as an immutable snapshot through the sidecar's one
// apply path and answered with an ACK, or a NACK with the reason (a delta whose base is not the
// table held, a table whose version does not match its content, a table the sidecar refuses);
// the previous table stays. Reports (slot states, load, reload progress) go up the same stream.
// While no controller is reachable the sidecar keeps routing with the last table it had.
//
//   ControllerSourceOptions options{.controllers = {"drover-controller.drover:7000"},
//                                   .pod_name = "web-7d9f-abcde", .namespace_name = "shop",
//                                   .pod_ip = "10.0.0.5", .peer_port = 8081, .worker_slots = 4};
//   auto source = std::make_unique<ControllerSource>(options);
//   auto sidecar = Sidecar::Create(sidecar_options, std::move(source));
#ifndef DROVER_SIDECAR_MEMBERSHIP_CONTROLLER_SOURCE_H_
#define DROVER_SIDECAR_MEMBERSHIP_CONTROLLER_SOURCE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/token_file.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "sidecar/membership/source.h"

namespace grpc {
class ChannelCredentials;
class ClientContext;
}  // namespace grpc
namespace drover::v1 {
class Update;
}

namespace drover::membership {

struct ControllerSourceOptions {
  std::vector<std::string> controllers;  // HOST:PORT each; a DNS name may have several addresses
  std::string pod_name;                  // the member id
  std::string namespace_name;
  std::string pod_uid;
  std::string pod_ip;
  uint16_t peer_port = 0;
  uint32_t worker_slots = 0;
  std::string build_version;
  std::string token_file;     // --controller-token-file: presented as a bearer token, re-read
  std::string tls_ca_file;    // --controller-tls-ca: TLS to the controller, trusting this CA
  std::string tls_cert_file;  // --controller-tls-cert/--controller-tls-key: a client certificate
  std::string tls_key_file;
  absl::Duration report_interval = absl::Seconds(5);
  absl::Duration backoff_initial = absl::Milliseconds(500);
  absl::Duration backoff_max = absl::Seconds(30);
};

// Parses --controller: comma-separated HOST:PORT entries (at least one; each with a port).
absl::StatusOr<std::vector<std::string>> ParseControllerList(std::string_view text);

class ControllerSource final : public MembershipSource {
 public:
  explicit ControllerSource(ControllerSourceOptions options);
  ~ControllerSource() override { Stop(); }

  std::string_view name() const override { return "controller"; }
  absl::Status Start(SourceContext context) override;
  void Stop() override;

 private:
  // One stream's life: hello, then updates until it breaks. Returns whether it got at least
  // one update (a healthy stream resets the backoff).
  bool RunStream(const std::string& target);
  // Applies one update to `held_`; returns "" when applied, else the NACK's error.
  std::string ApplyUpdate(const drover::v1::Update& update);
  void Run();

  const ControllerSourceOptions options_;
  SourceContext context_;
  std::unique_ptr<TokenFile> token_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  prometheus::Gauge* connected_ = nullptr;
  prometheus::Counter* reconnects_ = nullptr;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* active_ ABSL_GUARDED_BY(mu_) = nullptr;  // cancelled by Stop()

  // Touched only by the stream thread: the table as the controller sent it.
  struct HeldMember {
    std::string address;
    uint32_t slots = 0;
    bool draining = false;
  };
  std::map<std::string, HeldMember> held_;
  std::string held_version_;
  std::string last_logged_;  // the last stream-ended line, so a lasting outage is said once
  std::thread thread_;
};

}  // namespace drover::membership

#endif  // DROVER_SIDECAR_MEMBERSHIP_CONTROLLER_SOURCE_H_
