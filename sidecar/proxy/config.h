// What the proxy's event-loop threads need to know, built once by main() from flags and
// read-only afterwards.
#ifndef DROVER_SIDECAR_PROXY_CONFIG_H_
#define DROVER_SIDECAR_PROXY_CONFIG_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "sidecar/balance/balancer.h"
#include "sidecar/balance/request_queue.h"
#include "sidecar/http/parser.h"
#include "sidecar/log/access_log.h"
#include "sidecar/net/socket.h"
#include "sidecar/sticky/policy.h"

namespace drover::proxy {

enum class ProxyMode : uint8_t { kHttp, kTcp };

struct ProxyConfig {
  net::SocketAddress listen;
  ProxyMode mode = ProxyMode::kHttp;
  balance::BalanceMode balance = balance::BalanceMode::kLeastConn;
  int threads = 1;
  http::ParseLimits limits;
  int64_t max_connections = 100000;
  int64_t client_header_timeout_ms = 10000;
  // Longest silence from a client while its request body is expected; then 408.
  int64_t client_body_timeout_ms = 60000;
  // A client FIN after a whole request aborts that request (nginx's default, HAProxy's option
  // abortonclose) instead of waiting to answer a half-closed client.
  bool abort_on_client_close = true;
  int64_t idle_timeout_ms = 60000;
  int64_t connect_timeout_ms = 3000;
  int64_t response_timeout_ms = 60000;
  int64_t tunnel_timeout_ms = 3600000;
  // Pooled backend connections are closed after this long unused: shorter than the usual
  // backend keep-alive timeout (Node.js: 5 s) so a request rarely meets a closing socket.
  int64_t upstream_idle_timeout_ms = 4000;
  // After an error response, how long to read and discard what the client still sends so the
  // response is not lost to a reset.
  int64_t linger_ms = 1000;
  sticky::StickyConfig sticky;
  // Where other members' sidecars send forwarded requests; unset: no peer listener.
  std::optional<net::SocketAddress> peer_listen;
  // --worker-max-inflight, --max-queue: a request waits here until its worker has room; unset:
  // no limit. Made by the sidecar once the backends exist; shared by every loop thread.
  int worker_max_inflight = 0;
  int64_t max_queue = 1024;
  int64_t queue_timeout_ms = 10000;
  std::shared_ptr<balance::RequestQueue> queue;
  // --access-log: one line per request, through the sidecar's writer thread (made with the
  // threads; null when off).
  log::AccessLogFormat access_log = log::AccessLogFormat::kOff;
  std::shared_ptr<log::AccessLog> access_logger;
};

}  // namespace drover::proxy

#endif  // DROVER_SIDECAR_PROXY_CONFIG_H_
