// KubeClient over HTTP(S) with cpprestsdk (web::http::client). No cpprestsdk exception leaves
// it: every failure is an absl::Status (status.h). Watches get their own connection and a
// client-side limit of their own timeout plus a margin, never cpprestsdk's default 30 s, and
// their body is read incrementally as it arrives. Watch() returns as soon as the request is
// sent; the first Next() waits for the response head and returns its error (IsGone() for a
// 410), so Cancel() can end that wait too. Bearer tokens from a file are re-read every
// token_reload_interval (bound service-account tokens rotate).
//
//   prometheus::Registry registry;
//   KubeMetrics metrics(registry);
//   absl::StatusOr<KubeClientConfig> config = ResolveConfig(kube_api_flag, kubeconfig_flag);
//   if (!config.ok()) return config.status();
//   absl::StatusOr<std::unique_ptr<KubeClient>> client = NewKubeClient(*config, &metrics);
//   if (!client.ok()) return client.status();  // bad certificate, key or CA bundle
//   absl::StatusOr<std::string> pod = (*client)->Get("/api/v1/namespaces/shop/pods/web-0");
#ifndef DROVER_CONTROLLER_KUBE_HTTP_CLIENT_H_
#define DROVER_CONTROLLER_KUBE_HTTP_CLIENT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "controller/kube/client.h"
#include "controller/kube/config.h"
#include "controller/kube/metrics.h"

namespace drover::kube {

// Checks the TLS material in `config` (CA bundle, client certificate and key) now, so that a
// bad one fails at start naming config.source. `metrics` may be null; it must outlive the
// client and its watch streams.
absl::StatusOr<std::unique_ptr<KubeClient>> NewKubeClient(const KubeClientConfig& config,
                                                          KubeMetrics* metrics = nullptr);

}  // namespace drover::kube

#endif  // DROVER_CONTROLLER_KUBE_HTTP_CLIENT_H_
