#include "sidecar/admin/admin_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "sidecar/http/parser.h"
#include "sidecar/http/rewrite.h"

namespace drover::admin {
using drover::AsAbsl;

namespace {

// An admin client gets this long to send its request; admin traffic is tiny and local.
constexpr int kRequestDeadlineMs = 2000;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void WriteAll(int fd, std::string_view data) {
  int64_t deadline = NowMs() + kRequestDeadlineMs;
  while (!data.empty() && NowMs() < deadline) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 100);
    } else {
      return;
    }
  }
}

std::string Reply(int status, std::string_view content_type, std::string_view body,
                  bool head_only) {
  std::string out =
      absl::StrCat("HTTP/1.1 ", status, " ",
                   status == 200   ? "OK"
                   : status == 404 ? "Not Found"
                   : status == 405 ? "Method Not Allowed"
                                   : AsAbsl(drover::http::StatusReason(status)),
                   "\r\nContent-Type: ", AsAbsl(content_type), "\r\nContent-Length: ", body.size(),
                   "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
  if (!head_only) out.append(body);
  return out;
}

}  // namespace

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Handle(std::string method, std::string path,
                         std::function<AdminResponse()> handler) {
  routes_.push_back({std::move(method), std::move(path), std::move(handler)});
}

absl::Status AdminServer::Start() {
  absl::StatusOr<int> fd = net::ListenReusePort(address_, 128);
  if (!fd.ok()) return fd.status();
  listen_fd_ = *fd;
  absl::StatusOr<net::SocketAddress> bound = net::LocalAddress(listen_fd_);
  if (bound.ok()) address_ = *bound;
  thread_ = std::thread([this] { Serve(); });
  return absl::OkStatus();
}

void AdminServer::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
}

void AdminServer::Serve() {
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) continue;
    ServeConnection(fd);
    close(fd);
  }
}

void AdminServer::ServeConnection(int fd) {
  std::string buffer;
  http::RequestHead head;
  http::ParseLimits limits;
  const int64_t deadline = NowMs() + kRequestDeadlineMs;
  for (;;) {
    int64_t left = deadline - NowMs();
    if (left <= 0) return;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) return;
    char chunk[4096];
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return;
    buffer.append(chunk, static_cast<size_t>(n));
    http::ParseResult r = http::ParseRequestHead(buffer, limits, head);
    if (r.status == http::ParseStatus::kIncomplete) continue;
    if (r.status == http::ParseStatus::kError) {
      WriteAll(fd, Reply(http::ParseErrorStatus(r.error), "text/plain",
                         absl::StrCat("bad request: ", AsAbsl(http::ParseErrorName(r.error)), "\n"),
                         false));
      return;
    }
    break;
  }
  std::string_view path = head.target.substr(0, head.target.find('?'));
  const bool head_only = head.method == http::Method::kHead;
  std::string_view method = head_only ? "GET" : head.method_text;
  bool path_known = false;
  for (const Route& route : routes_) {
    if (route.path != path) continue;
    path_known = true;
    if (route.method != method) continue;
    AdminResponse response = route.handler();
    WriteAll(fd, Reply(response.status, response.content_type, response.body, head_only));
    return;
  }
  if (path_known) {
    WriteAll(fd, Reply(405, "text/plain", "method not allowed\n", head_only));
  } else {
    WriteAll(fd,
             Reply(404, "text/plain", "not found: try /metrics, /healthz or /readyz\n", head_only));
  }
}

}  // namespace drover::admin
