#include "controller/controller.h"

#include <cstdio>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/token_file.h"
#include "controller/admin/admin_service.h"
#include "controller/http/http_server.h"
#include "controller/kube/config.h"
#include "controller/kube/http_client.h"
#include "controller/kube/metrics.h"
#include "controller/kube/pod_store.h"
#include "controller/kube/reflector.h"
#include "controller/members/membership.h"
#include "controller/push/membership_service.h"
#include "controller/push/push_metrics.h"
#include "cpprest/json.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/registry.h"

namespace drover::controller {

namespace {

// The port of HOST:PORT (0 when absent: peers then need a drover.io/grpc-port annotation).
int PortOf(const std::string& address) {
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) return 0;
  return port;
}

}  // namespace

struct Controller::Parts {
  ControllerOptions options;
  kube::KubeClientConfig kube_config;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<kube::KubeMetrics> kube_metrics;
  std::unique_ptr<push::PushMetrics> push_metrics;
  std::unique_ptr<kube::KubeClient> client;
  kube::PodStore store;
  std::unique_ptr<kube::Reflector> reflector;
  std::unique_ptr<push::MembershipService> service;
  std::unique_ptr<TokenFile> admin_token;
  std::unique_ptr<TokenFile> sidecar_token;
  std::unique_ptr<admin::AdminService> admin;
  std::unique_ptr<admin::ReplicaService> replica;
  std::unique_ptr<members::Publisher> publisher;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<HttpServer> http;
  int grpc_port = 0;
  bool stopped = false;

  // Guarded by the publisher's single thread while it runs; read by /status.
  absl::Mutex mu;
  members::Membership last ABSL_GUARDED_BY(mu);
};

absl::StatusOr<std::unique_ptr<Controller>> Controller::Create(ControllerOptions options) {
  if (options.selector.empty()) {
    return absl::InvalidArgumentError(
        "--selector is required (for example --selector=app.kubernetes.io/part-of=drover)");
  }
  auto parts = std::make_unique<Parts>();
  absl::StatusOr<kube::KubeClientConfig> config =
      kube::ResolveConfig(options.kube_api, options.kubeconfig);
  if (!config.ok()) return config.status();
  parts->kube_config = *std::move(config);
  if (options.namespace_name.empty()) options.namespace_name = parts->kube_config.default_namespace;
  if (options.replica_namespace.empty()) {
    options.replica_namespace = parts->kube_config.default_namespace;
  }
  if (!options.admin_token_file.empty()) {
    absl::StatusOr<std::unique_ptr<TokenFile>> token = TokenFile::Open(options.admin_token_file);
    if (!token.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--admin-token-file: ", token.status().message()));
    }
    parts->admin_token = *std::move(token);
  }
  if (!options.sidecar_token_file.empty()) {
    absl::StatusOr<std::unique_ptr<TokenFile>> token = TokenFile::Open(options.sidecar_token_file);
    if (!token.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--sidecar-token-file: ", token.status().message()));
    }
    parts->sidecar_token = *std::move(token);
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!options.tls_client_ca_file.empty() && options.tls_cert_file.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  parts->options = std::move(options);
  return std::unique_ptr<Controller>(new Controller(std::move(parts)));
}

Controller::Controller(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Controller::~Controller() { Stop(); }

absl::Status Controller::Start() {
  Parts& p = *parts_;
  const ControllerOptions& o = p.options;
  p.kube_metrics = std::make_unique<kube::KubeMetrics>(*p.registry);
  p.push_metrics = std::make_unique<push::PushMetrics>(*p.registry);

  absl::StatusOr<std::unique_ptr<kube::KubeClient>> client =
      kube::NewKubeClient(p.kube_config, p.kube_metrics.get());
  if (!client.ok()) return client.status();
  p.client = *std::move(client);

  p.service = std::make_unique<push::MembershipService>(
      push::MembershipServiceOptions{.namespace_name = o.namespace_name,
                                     .history_capacity = o.history,
                                     .sidecar_token = p.sidecar_token.get(),
                                     .verify_peer_ip = o.verify_peer_ip},
      p.push_metrics.get());

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!o.tls_cert_file.empty()) {
    grpc::SslServerCredentialsOptions ssl(
        o.tls_client_ca_file.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                     : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    absl::StatusOr<std::string> cert = ReadSmallFile(o.tls_cert_file, 1 << 20);
    if (!cert.ok())
      return absl::InvalidArgumentError(absl::StrCat("--tls-cert: ", cert.status().message()));
    absl::StatusOr<std::string> key = ReadSmallFile(o.tls_key_file, 1 << 20);
    if (!key.ok())
      return absl::InvalidArgumentError(absl::StrCat("--tls-key: ", key.status().message()));
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    if (!o.tls_client_ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadSmallFile(o.tls_client_ca_file, 1 << 20);
      if (!ca.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("--tls-client-ca: ", ca.status().message()));
      }
      ssl.pem_root_certs = *ca;
    }
    credentials = grpc::SslServerCredentials(ssl);
  }

  // Generic gRPC tools (grpcurl, grpc_cli) can list and call the services.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(o.listen, credentials, &p.grpc_port);
  // A sidecar whose pod vanished without closing its connection is noticed within a minute:
  // a ping every 20 s, answered within 10 s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 20'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Sidecars ping too (every 30 s); let them.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  // No bandwidth-delay probing: pushes are small and latency-bound, and each probe costs a
  // round of syscalls per push (measured: -25% controller CPU per push with the line above).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.RegisterService(p.service.get());
  // The admin services' context needs the bound port, known only after BuildAndStart: the
  // services are created first and read the port through the context they keep a copy of,
  // so fill what is known now and set the port below.
  admin::AdminContext admin_context;
  admin_context.kube = p.client.get();
  admin_context.membership = p.service.get();
  admin_context.admin_token = p.admin_token.get();
  admin_context.namespace_name = o.namespace_name;
  admin_context.self_name = o.pod_name;
  admin_context.replica_selector = o.replica_selector;
  admin_context.replica_namespace = o.replica_namespace;
  admin_context.grpc_port = PortOf(o.listen);
  admin_context.self_address = o.listen;
  admin_context.watch_state = [&p] {
    return p.reflector ? p.reflector->state() : kube::ReflectorState{};
  };
  p.admin = std::make_unique<admin::AdminService>(admin_context);
  p.replica = std::make_unique<admin::ReplicaService>(admin_context);
  builder.RegisterService(p.admin.get());
  builder.RegisterService(p.replica.get());
  p.server = builder.BuildAndStart();
  if (p.server == nullptr || p.grpc_port == 0) {
    return absl::UnavailableError(absl::StrCat("--listen: cannot listen on ", o.listen));
  }

  p.http = std::make_unique<HttpServer>(
      o.http_listen, p.registry,
      HttpHandlers{.ready = [this] { return ready(); }, .status = [this] { return StatusJson(); }});
  if (absl::Status s = p.http->Start(); !s.ok()) {
    return absl::UnavailableError(absl::StrCat("--http-listen: ", s.message()));
  }

  p.publisher = std::make_unique<members::Publisher>(
      p.store, members::MemberRules{.default_peer_port = o.peer_port}, o.debounce,
      [&p](const members::Membership& membership) {
        for (const members::Exclusion& e : membership.excluded) {
          std::fprintf(stderr, "drover-controller: pod %s (group '%s') left out: %s\n",
                       e.pod.c_str(), e.group.c_str(), e.reason.c_str());
        }
        p.service->Publish(membership);
        absl::MutexLock lock(&p.mu);
        p.last = membership;
      });
  p.store.SetOnChange([&p] { p.publisher->Notify(); });
  p.publisher->Start();

  kube::ReflectorOptions reflector_options;
  reflector_options.path = absl::StrCat("/api/v1/namespaces/", o.namespace_name, "/pods");
  reflector_options.label_selector = o.selector;
  reflector_options.min_watch_timeout = o.watch_timeout_min;
  reflector_options.max_watch_timeout = o.watch_timeout_max;
  p.reflector = std::make_unique<kube::Reflector>(p.client.get(), &p.store, reflector_options,
                                                  p.kube_metrics.get());
  p.reflector->Start();
  return absl::OkStatus();
}

void Controller::Stop() {
  Parts& p = *parts_;
  if (p.stopped) return;
  p.stopped = true;
  if (p.reflector) p.reflector->Stop();
  if (p.publisher) p.publisher->Stop();
  if (p.service) p.service->Shutdown();
  if (p.server) p.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  if (p.http) p.http->Stop();
}

int Controller::grpc_port() const { return parts_->grpc_port; }

std::string Controller::http_address() const {
  return parts_->http ? parts_->http->bound_address() : "";
}

const std::string& Controller::namespace_name() const { return parts_->options.namespace_name; }

bool Controller::ready() const {
  return parts_->store.HasSynced() && parts_->publisher != nullptr &&
         parts_->publisher->published() > 0;
}

std::string Controller::StatusJson() const {
  Parts& p = *parts_;
  using web::json::value;
  value root = value::object();
  root[U("namespace")] = value::string(p.options.namespace_name);
  root[U("selector")] = value::string(p.options.selector);
  root[U("ready")] = value::boolean(ready());
  kube::ReflectorState watch = p.reflector ? p.reflector->state() : kube::ReflectorState{};
  value w = value::object();
  w[U("synced")] = value::boolean(p.store.HasSynced());
  w[U("watching")] = value::boolean(watch.watching);
  w[U("resource_version")] = value::string(watch.resource_version);
  w[U("relists")] = value::number(static_cast<int64_t>(watch.relists));
  w[U("last_error")] = value::string(watch.last_error);
  root[U("watch")] = w;

  value groups = value::array();
  {
    absl::MutexLock lock(&p.mu);
    size_t i = 0;
    for (const auto& [name, table] : p.last.groups) {
      value g = value::object();
      g[U("group")] = value::string(name);
      g[U("version")] = value::string(table->version_hex);
      value members = value::array();
      size_t k = 0;
      for (const members::MemberEntry& m : table->members) {
        value mv = value::object();
        mv[U("id")] = value::string(m.id);
        mv[U("state")] = value::string(m.draining ? "draining" : "ready");
        mv[U("slots")] = value::number(static_cast<int32_t>(m.slots));
        mv[U("address")] = value::string(m.address);
        members[k++] = mv;
      }
      g[U("members")] = members;
      groups[i++] = g;
    }
    value excluded = value::array();
    i = 0;
    for (const members::Exclusion& e : p.last.excluded) {
      value ev = value::object();
      ev[U("pod")] = value::string(e.pod);
      ev[U("group")] = value::string(e.group);
      ev[U("reason")] = value::string(e.reason);
      excluded[i++] = ev;
    }
    root[U("excluded")] = excluded;
  }
  root[U("groups")] = groups;

  value subscribers = value::array();
  size_t i = 0;
  if (p.service) {
    for (const push::SubscriberInfo& s : p.service->Subscribers()) {
      value sv = value::object();
      sv[U("pod")] = value::string(s.pod);
      sv[U("group")] = value::string(s.group);
      sv[U("peer")] = value::string(s.peer);
      sv[U("applied_version")] = value::string(s.applied_version);
      sv[U("worker_slots")] = value::number(static_cast<int32_t>(s.worker_slots));
      sv[U("build_version")] = value::string(s.build_version);
      sv[U("acks")] = value::number(static_cast<int64_t>(s.acks));
      sv[U("nacks")] = value::number(static_cast<int64_t>(s.nacks));
      sv[U("last_error")] = value::string(s.last_error);
      subscribers[i++] = sv;
    }
  }
  root[U("subscribers")] = subscribers;
  return root.serialize() + "\n";
}

}  // namespace drover::controller
