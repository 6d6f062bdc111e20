// drover-controller as one object: the cluster API client and reflector feeding a pod store,
// the publisher turning pod changes into member-table versions, the Membership gRPC service
// pushing them to sidecars, and the HTTP listener for metrics, probes and status.
//
//   absl::StatusOr<std::unique_ptr<Controller>> c = Controller::Create(options);
//   if (!c.ok()) { print c.status(); exit 2; }
//   if (absl::Status s = (*c)->Start(); !s.ok()) { print s; exit 1; }
//   wait for SIGTERM; (*c)->Stop();
#ifndef DROVER_CONTROLLER_CONTROLLER_H_
#define DROVER_CONTROLLER_CONTROLLER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controller/members/publisher.h"

namespace drover::controller {

struct ControllerOptions {
  std::string listen = "0.0.0.0:7000";       // gRPC (Membership)
  std::string http_listen = "0.0.0.0:9902";  // /metrics, /healthz, /readyz, /status
  std::string kube_api;                      // --kube-api: plain URL (kubectl proxy, tests)
  std::string kubeconfig;                    // --kubeconfig
  std::string namespace_name;                // "" -> the client config's namespace
  std::string selector;                      // label selector of the app pods (required)
  uint16_t peer_port = 8081;                 // when a pod has no drover.io/peer-port
  members::DebounceOptions debounce;
  size_t history = 32;             // versions kept per group for deltas
  std::string admin_token_file;    // --admin-token-file; "" -> the admin API refuses every call
  std::string sidecar_token_file;  // --sidecar-token-file; "" -> any sidecar may subscribe
  bool verify_peer_ip = true;      // a sidecar's hello must name a pod with the stream's IP
  std::string pod_name;            // this replica's pod name (POD_NAME)
  std::string replica_selector;    // the controller's own pods; "" -> no peers
  std::string replica_namespace;   // "" -> the client config's namespace
  std::string tls_cert_file;       // with tls_key_file: TLS on the gRPC port
  std::string tls_key_file;
  std::string tls_client_ca_file;  // also: clients must present a certificate from this CA
  absl::Duration watch_timeout_min = absl::Seconds(300);
  absl::Duration watch_timeout_max = absl::Seconds(600);
};

class Controller {
 public:
  // Resolves the cluster API configuration; an error is a configuration problem (exit 2).
  static absl::StatusOr<std::unique_ptr<Controller>> Create(ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Binds the listeners and starts watching; an error names what could not start.
  absl::Status Start();
  // Stops accepting, ends every stream, joins every thread. Idempotent.
  void Stop();

  int grpc_port() const;
  // HOST:PORT of the HTTP listener, with the real port.
  std::string http_address() const;
  const std::string& namespace_name() const;
  bool ready() const;
  std::string StatusJson() const;

 private:
  struct Parts;
  explicit Controller(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace drover::controller

#endif  // DROVER_CONTROLLER_CONTROLLER_H_
