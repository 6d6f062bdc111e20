#include "droverctl/connection.h"

#include <chrono>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/strings.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace drover::ctl {

namespace {

// Token and PEM files are small; anything larger is a wrong path.
constexpr size_t kFileLimit = 1 << 20;

absl::StatusOr<std::string> ReadFlagFile(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path, kFileLimit);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", text.status().message()));
  }
  return text;
}

// A header value must be visible ASCII; anything else would fail every call with INTERNAL,
// far from its cause.
absl::Status CheckToken(absl::string_view source, std::string_view token) {
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(source, " is empty"));
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat(source,
                       " holds characters a header cannot carry (spaces, control or "
                       "non-ASCII characters)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ConnectionOptions> ResolveConnectionOptions(const ConnectionFlags& flags) {
  ConnectionOptions options;
  options.address = flags.address;
  options.timeout = flags.timeout;
  options.tls_server_name = flags.tls_server_name;
  if (!flags.token_file.empty()) {
    absl::StatusOr<std::string> text = ReadFlagFile("token-file", flags.token_file);
    if (!text.ok()) return text.status();
    // The token is the first line, as the controller reads its own copy of the Secret.
    std::string_view first(*text);
    first = first.substr(0, first.find('\n'));
    options.token = std::string(absl::StripAsciiWhitespace(AsAbsl(first)));
    absl::Status ok = CheckToken(absl::StrCat("--token-file ", flags.token_file), options.token);
    if (!ok.ok()) return ok;
  } else if (!flags.env_token.empty()) {
    options.token = std::string(absl::StripAsciiWhitespace(flags.env_token));
    absl::Status ok = CheckToken("DROVER_TOKEN", options.token);
    if (!ok.ok()) return ok;
  }
  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        flags.tls_cert.empty() ? "--tls-key" : "--tls-cert",
        ": mTLS needs both --tls-cert and --tls-key (the client certificate and its key)"));
  }
  options.tls = !flags.tls_ca.empty() || !flags.tls_cert.empty();
  if (!flags.tls_server_name.empty() && !options.tls) {
    return absl::InvalidArgumentError("--tls-server-name: only with TLS (give --tls-ca)");
  }
  if (!flags.tls_ca.empty()) {
    absl::StatusOr<std::string> pem = ReadFlagFile("tls-ca", flags.tls_ca);
    if (!pem.ok()) return pem.status();
    options.tls_ca_pem = *std::move(pem);
  }
  if (!flags.tls_cert.empty()) {
    absl::StatusOr<std::string> cert = ReadFlagFile("tls-cert", flags.tls_cert);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFlagFile("tls-key", flags.tls_key);
    if (!key.ok()) return key.status();
    options.tls_cert_pem = *std::move(cert);
    options.tls_key_pem = *std::move(key);
  }
  return options;
}

Connection::Connection(std::string address, const std::string& token, absl::Duration timeout,
                       std::shared_ptr<grpc::Channel> channel)
    : address_(std::move(address)),
      authorization_(token.empty() ? "" : absl::StrCat("Bearer ", token)),
      timeout_(timeout),
      channel_(std::move(channel)),
      admin_(v1::Admin::NewStub(channel_)) {}

std::unique_ptr<Connection> Connection::Create(const ConnectionOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  grpc::ChannelArguments args;
  // `status --watch` outlives a controller restart: reconnect within seconds, not gRPC's
  // default of up to two minutes.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_ca_pem;
    ssl.pem_cert_chain = options.tls_cert_pem;
    ssl.pem_private_key = options.tls_key_pem;
    credentials = grpc::SslCredentials(ssl);
    // Through `kubectl port-forward` the address is 127.0.0.1 while the certificate names the
    // Service.
    if (!options.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls_server_name);
    }
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.address, credentials, args);
  return std::unique_ptr<Connection>(
      new Connection(options.address, options.token, options.timeout, std::move(channel)));
}

std::unique_ptr<grpc::ClientContext> Connection::NewContext(bool unary) const {
  auto context = std::make_unique<grpc::ClientContext>();
  // Metadata rather than call credentials: gRPC refuses to send call credentials over an
  // insecure channel, and a port-forwarded or in-cluster controller often has no TLS.
  if (!authorization_.empty()) context->AddMetadata("authorization", authorization_);
  if (unary && timeout_ > absl::ZeroDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  }
  return context;
}

CallOutcome Connection::Outcome(const grpc::Status& status, const grpc::ClientContext& context,
                                bool replied) const {
  CallOutcome outcome;
  outcome.code = status.error_code();
  outcome.message = status.error_message();
  outcome.replied = replied;
  // A channel that connected stays READY after a call the controller itself failed; one that
  // never got through is in TRANSIENT_FAILURE (or still CONNECTING at our deadline).
  outcome.reached = channel_->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY;
  outcome.deadline_passed = context.deadline() != std::chrono::system_clock::time_point::max() &&
                            std::chrono::system_clock::now() >= context.deadline();
  return outcome;
}

}  // namespace drover::ctl
