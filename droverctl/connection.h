// droverctl's channel to the controller's Admin service: the address, TLS or not, the bearer
// token on every call and the per-call deadline, resolved once from flags and environment.
//
//   absl::StatusOr<ConnectionOptions> options = ResolveConnectionOptions(flags);  // reads files
//   std::unique_ptr<Connection> connection = Connection::Create(*options);
//   std::unique_ptr<grpc::ClientContext> context = connection->NewContext(/*unary=*/true);
//   grpc::Status status = connection->admin().GetStatus(context.get(), request, &reply);
//   CallOutcome outcome = connection->Outcome(status, *context, /*replied=*/false);
#ifndef DROVER_DROVERCTL_CONNECTION_H_
#define DROVER_DROVERCTL_CONNECTION_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "drover/v1/admin.grpc.pb.h"
#include "droverctl/errors.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace drover::ctl {

// What the user gave: flag values and the environment, paths not yet read.
struct ConnectionFlags {
  std::string address;     // --addr, else DROVER_ADDR, else 127.0.0.1:7000
  std::string token_file;  // --token-file
  std::string env_token;   // DROVER_TOKEN; --token-file wins when both are set
  std::string tls_ca;      // --tls-ca: a PEM file
  std::string tls_cert;    // --tls-cert and --tls-key: a client certificate for mTLS
  std::string tls_key;
  std::string tls_server_name;  // --tls-server-name: the name the certificate must carry
  absl::Duration timeout = absl::Seconds(10);
};

struct ConnectionOptions {
  std::string address;
  std::string token;  // "" sends no authorization metadata
  bool tls = false;
  std::string tls_ca_pem;  // "" with tls: the system's root certificates
  std::string tls_cert_pem;
  std::string tls_key_pem;
  std::string tls_server_name;
  absl::Duration timeout = absl::Seconds(10);  // ZeroDuration(): no deadline
};

// Reads the token and PEM files. INVALID_ARGUMENT naming the flag when a file is unreadable or
// empty, a token holds characters a header cannot carry, or only one of --tls-cert/--tls-key is
// given: the caller reports these as usage errors.
absl::StatusOr<ConnectionOptions> ResolveConnectionOptions(const ConnectionFlags& flags);

class Connection {
 public:
  // Never fails: gRPC connects lazily, so an unreachable controller shows on the first call.
  static std::unique_ptr<Connection> Create(const ConnectionOptions& options);

  v1::Admin::Stub& admin() { return *admin_; }
  const std::string& address() const { return address_; }

  // A context carrying the token; `unary` calls also get the --timeout deadline, while a
  // stream (restart progress) may run as long as the rollout takes.
  std::unique_ptr<grpc::ClientContext> NewContext(bool unary) const;

  // What a finished call means for the exit code: whether the controller was reached, whether
  // our deadline passed. `replied` is whether any reply message arrived.
  CallOutcome Outcome(const grpc::Status& status, const grpc::ClientContext& context,
                      bool replied) const;

 private:
  Connection(std::string address, const std::string& token, absl::Duration timeout,
             std::shared_ptr<grpc::Channel> channel);

  const std::string address_;
  const std::string authorization_;  // "Bearer <token>", or "" for none
  const absl::Duration timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

}  // namespace drover::ctl

#endif  // DROVER_DROVERCTL_CONNECTION_H_
