#include "bench/controller/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace drover::bench {
namespace {

// A response larger than this is not from the simulator's pod API.
constexpr size_t kMaxResponseBytes = 4 << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status Errno(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Waits until `fd` is ready for `events` or `deadline` passes.
absl::Status WaitFor(int fd, short events, absl::Time deadline) {
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("HTTP request timed out");
    pollfd p{.fd = fd, .events = events, .revents = 0};
    int n = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) return Errno("poll");
  }
}

}  // namespace

absl::StatusOr<HttpEndpoint> ParseHttpUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "' is not an http:// URL"));
  }
  absl::ConsumeSuffix(&rest, "/");
  size_t colon = rest.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(colon + 1), &port) ||
      port == 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "' needs http://IPV4:PORT"));
  }
  HttpEndpoint endpoint{.host = std::string(rest.substr(0, colon)),
                        .port = static_cast<uint16_t>(port)};
  if (endpoint.host == "localhost") endpoint.host = "127.0.0.1";
  in_addr addr{};
  if (inet_pton(AF_INET, endpoint.host.c_str(), &addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", url, "': the host must be an IPv4 address or localhost"));
  }
  return endpoint;
}

absl::StatusOr<HttpResponse> HttpCall(const HttpEndpoint& endpoint, const HttpRequest& request,
                                      absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(endpoint.port);
  if (inet_pton(AF_INET, endpoint.host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad address ", endpoint.host));
  }
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) return Errno(absl::StrCat("connect ", endpoint.host));
    if (absl::Status s = WaitFor(fd.get(), POLLOUT, deadline); !s.ok()) return s;
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
      errno = error;
      return Errno(absl::StrCat("connect ", endpoint.host, ":", endpoint.port));
    }
  }

  std::string out =
      absl::StrCat(request.method, " ", request.path, " HTTP/1.1\r\nHost: ", endpoint.host, ":",
                   endpoint.port, "\r\nAccept: application/json\r\nConnection: close\r\n");
  if (!request.content_type.empty()) {
    absl::StrAppend(&out, "Content-Type: ", request.content_type,
                    "\r\nContent-Length: ", request.body.size(), "\r\n");
  }
  absl::StrAppend(&out, "\r\n", request.body);
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = send(fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (absl::Status s = WaitFor(fd.get(), POLLOUT, deadline); !s.ok()) return s;
    } else {
      return Errno("send");
    }
  }

  // "Connection: close": the response ends where the stream does.
  std::string in;
  char chunk[16384];
  while (true) {
    ssize_t n = recv(fd.get(), chunk, sizeof chunk, 0);
    if (n > 0) {
      in.append(chunk, static_cast<size_t>(n));
      if (in.size() > kMaxResponseBytes) return absl::OutOfRangeError("HTTP response too large");
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (absl::Status s = WaitFor(fd.get(), POLLIN, deadline); !s.ok()) return s;
    } else {
      return Errno("recv");
    }
  }
  // "HTTP/1.1 200 OK\r\n..."
  HttpResponse response;
  absl::string_view view = in;
  if (!absl::ConsumePrefix(&view, "HTTP/1.") || view.size() < 6 ||
      !absl::SimpleAtoi(view.substr(2, 3), &response.status)) {
    return absl::DataLossError(absl::StrCat("not an HTTP response: '", in.substr(0, 40), "'"));
  }
  size_t head_end = in.find("\r\n\r\n");
  if (head_end != std::string::npos) response.body = in.substr(head_end + 4);
  return response;
}

}  // namespace drover::bench
