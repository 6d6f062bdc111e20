// The controller's plain-HTTP listener (--http-listen): /metrics for Prometheus, /healthz for
// liveness, /readyz for readiness (ready once the first pod list has synced and a state was
// published) and /status (JSON: groups, versions, subscribers, left-out pods). Served by
// cpprestsdk's http_listener on its own threads, never on the gRPC or reflector threads.
//
//   HttpServer http("0.0.0.0:9902", registry, {.ready = [&] { return synced(); },
//                                              .status = [&] { return StatusJson(); }});
//   if (absl::Status s = http.Start(); !s.ok()) return s;
#ifndef DROVER_CONTROLLER_HTTP_HTTP_SERVER_H_
#define DROVER_CONTROLLER_HTTP_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "prometheus/registry.h"

namespace web::http::experimental::listener {
class http_listener;
}

namespace drover::controller {

struct HttpHandlers {
  std::function<bool()> ready;          // /readyz: 200 when true, else 503
  std::function<std::string()> status;  // /status: a JSON document
};

class HttpServer {
 public:
  // `address` is HOST:PORT; HOST an IPv4 literal or a name.
  HttpServer(std::string address, std::shared_ptr<prometheus::Registry> registry,
             HttpHandlers handlers);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and serves; an error names the address.
  absl::Status Start();
  void Stop();
  // After Start: HOST:PORT with the real port when 0 was asked for.
  const std::string& bound_address() const { return bound_address_; }

 private:
  const std::string address_;
  const std::shared_ptr<prometheus::Registry> registry_;
  const HttpHandlers handlers_;
  std::string bound_address_;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
};

}  // namespace drover::controller

#endif  // DROVER_CONTROLLER_HTTP_HTTP_SERVER_H_
