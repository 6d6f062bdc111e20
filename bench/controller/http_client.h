// A blocking HTTP/1.1 client for one request at a time to a loopback server: enough for the swarm
// to change a pod through the Kubernetes API simulator at the instant it starts a clock, without
// a process start (curl) inside the measured time and without a new dependency.
//
//   absl::StatusOr<HttpEndpoint> api = ParseHttpUrl("http://127.0.0.1:8001");
//   absl::StatusOr<HttpResponse> r = HttpCall(*api, {.method = "PATCH", .path = "/api/v1/...",
//       .content_type = "application/merge-patch+json", .body = "{...}"}, absl::Seconds(5));
#ifndef DROVER_BENCH_CONTROLLER_HTTP_CLIENT_H_
#define DROVER_BENCH_CONTROLLER_HTTP_CLIENT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace drover::bench {

struct HttpEndpoint {
  std::string host;  // an IPv4 literal
  uint16_t port = 0;
};

// "http://IPV4:PORT" with an optional trailing "/"; "localhost" is taken as 127.0.0.1. Anything
// else (https, a path, a name to resolve) is an error naming the URL.
absl::StatusOr<HttpEndpoint> ParseHttpUrl(absl::string_view url);

struct HttpRequest {
  std::string method;
  std::string path;
  std::string content_type;  // empty: no body headers
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::string body;  // as received (not de-chunked): for error messages only
};

// Sends `request` with "Connection: close" and reads the whole response, all within `timeout`.
absl::StatusOr<HttpResponse> HttpCall(const HttpEndpoint& endpoint, const HttpRequest& request,
                                      absl::Duration timeout);

}  // namespace drover::bench

#endif  // DROVER_BENCH_CONTROLLER_HTTP_CLIENT_H_
