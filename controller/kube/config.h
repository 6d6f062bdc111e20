// Where the cluster API is and how to authenticate to it, resolved from the controller's flags
// the way kubectl and client-go do, in this order:
//
//   --kube-api=URL      plain http(s) to a URL (kubectl proxy, a test simulator), with an
//                       optional bearer token file (ResolveOptions::kube_api_token_file).
//   --kubeconfig=FILE   the file's current-context: cluster server, certificate-authority(-data),
//                       insecure-skip-tls-verify; user token, tokenFile, client-certificate(-data)
//                       + client-key(-data); the context's namespace. Relative paths are
//                       relative to the file. exec and auth-provider plugins are not supported.
//   (neither)           in-cluster: KUBERNETES_SERVICE_HOST/_PORT, the service account's
//                       ca.crt, token (re-read every minute: bound tokens rotate) and namespace.
//
//   absl::StatusOr<KubeClientConfig> config =
//       ResolveConfig(absl::GetFlag(FLAGS_kube_api), absl::GetFlag(FLAGS_kubeconfig));
//   if (!config.ok()) Exit(config.status());  // names the flag or file at fault
//   std::string ns = config->default_namespace;
#ifndef DROVER_CONTROLLER_KUBE_CONFIG_H_
#define DROVER_CONTROLLER_KUBE_CONFIG_H_

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace drover::kube {

inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

struct KubeClientConfig {
  // "https://10.96.0.1:443", "http://127.0.0.1:8001"; may end in a path prefix (a proxy's), no "/".
  std::string server;
  std::string default_namespace = "default";
  std::string source;  // what it came from, for messages: "in-cluster", "kubeconfig ~/.kube/config"

  // Authentication: a fixed bearer token, or a file re-read every token_reload_interval (an
  // unreadable file keeps the last token and logs), or neither.
  std::string bearer_token;
  std::string token_file;
  absl::Duration token_reload_interval = absl::Minutes(1);

  // TLS (https servers only). The CA bundle replaces the system roots when set.
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  std::string client_certificate_pem;  // with client_key_pem: mutual TLS
  std::string client_key_pem;

  // Lists, gets, patches and puts; a watch's limit is its own timeout plus watch_timeout_margin,
  // never this (cpprestsdk's default of 30 s would cut quiet watches).
  absl::Duration request_timeout = absl::Seconds(30);
  absl::Duration watch_timeout_margin = absl::Seconds(30);

  // The clock the token reload reads; tests drive it.
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

struct ResolveOptions {
  // In-cluster files (tests point this at a temporary directory).
  std::string service_account_dir = kServiceAccountDir;
  // With --kube-api: a file holding a bearer token, re-read like the in-cluster one.
  std::string kube_api_token_file;
};

absl::StatusOr<KubeClientConfig> ResolveConfig(std::string_view kube_api_flag,
                                               std::string_view kubeconfig_flag,
                                               const ResolveOptions& options = {});

// The parts, for tests and for callers that know which one they want.
absl::StatusOr<KubeClientConfig> ConfigFromKubeApiFlag(std::string_view url,
                                                       const ResolveOptions& options = {});
absl::StatusOr<KubeClientConfig> ConfigFromKubeconfig(const std::string& path);
absl::StatusOr<KubeClientConfig> InClusterConfig(const ResolveOptions& options = {});

}  // namespace drover::kube

#endif  // DROVER_CONTROLLER_KUBE_CONFIG_H_
