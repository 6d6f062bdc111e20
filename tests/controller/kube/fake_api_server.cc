#include "tests/controller/kube/fake_api_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/strings.h"

namespace drover::kube::fake {
namespace {

constexpr size_t kMaxHead = 64 * 1024;

std::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Whatever";
  }
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int value = 0;
      if (absl::SimpleHexAtoi(absl::string_view(s.data() + i + 1, 2), &value)) {
        out.push_back(static_cast<char>(value));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

}  // namespace

std::string FakeApiServer::Request::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, AsAbsl(name))) return value;
  }
  return "";
}

std::optional<std::string> FakeApiServer::Request::Param(std::string_view name) const {
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    const absl::string_view key = pair.substr(0, eq);
    if (PercentDecode(AsStd(key)) != name) continue;
    if (eq == absl::string_view::npos) return std::string();
    const absl::string_view value = pair.substr(eq + 1);
    return PercentDecode(AsStd(value));
  }
  return std::nullopt;
}

FakeApiServer::Connection::~Connection() {
  absl::MutexLock lock(&server_->mu_);
  server_->open_fds_.erase(std::remove(server_->open_fds_.begin(), server_->open_fds_.end(), fd_),
                           server_->open_fds_.end());
  close(fd_);
}

std::optional<FakeApiServer::Request> FakeApiServer::Connection::ReadRequest() {
  char buf[16 * 1024];
  size_t head_end;
  while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos) {
    if (pending_.size() > kMaxHead) return std::nullopt;
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    pending_.append(buf, static_cast<size_t>(n));
  }
  Request request;
  const std::string head = pending_.substr(0, head_end);
  pending_.erase(0, head_end + 4);
  std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
  std::vector<std::string> start = absl::StrSplit(lines[0], ' ');
  if (start.size() != 3) return std::nullopt;
  request.method = start[0];
  request.target = start[1];
  const size_t q = request.target.find('?');
  request.path = request.target.substr(0, q);
  if (q != std::string::npos) request.query = request.target.substr(q + 1);
  size_t content_length = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) return std::nullopt;
    std::string name = lines[i].substr(0, colon);
    std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    if (absl::EqualsIgnoreCase(name, "content-length") &&
        !absl::SimpleAtoi(value, &content_length)) {
      return std::nullopt;
    }
    request.headers.emplace_back(std::move(name), std::move(value));
  }
  while (pending_.size() < content_length) {
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    pending_.append(buf, static_cast<size_t>(n));
  }
  request.body = pending_.substr(0, content_length);
  pending_.erase(0, content_length);
  return request;
}

bool FakeApiServer::Connection::Write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool FakeApiServer::Connection::Sleep(absl::Duration d) {
  absl::MutexLock lock(&server_->mu_);
  server_->mu_.AwaitWithTimeout(absl::Condition(&server_->stopping_), d);
  return !server_->stopping_;
}

bool FakeApiServer::Connection::WaitPeerClosed(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  char buf[4096];
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
    if (n > 0) pending_.append(buf, static_cast<size_t>(n));
  }
}

void FakeApiServer::Connection::Close() { shutdown(fd_, SHUT_RDWR); }

FakeApiServer::FakeApiServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::abort();  // a test cannot run without its server
  }
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

FakeApiServer::~FakeApiServer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
  }
  // Wakes the blocked accept().
  shutdown(listen_fd_, SHUT_RDWR);
  accept_thread_.join();
  std::list<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  close(listen_fd_);
}

std::string FakeApiServer::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

std::vector<FakeApiServer::Request> FakeApiServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

bool FakeApiServer::WaitForRequests(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  const auto enough = [this, n]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return requests_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

bool FakeApiServer::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void FakeApiServer::AcceptLoop() {
  while (true) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0 && errno == EINTR) continue;
    absl::MutexLock lock(&mu_);
    if (fd < 0 || stopping_) {
      if (fd >= 0) close(fd);
      return;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void FakeApiServer::Serve(int fd) {
  Connection connection(this, fd);
  while (std::optional<Request> request = connection.ReadRequest()) {
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(*request);
    }
    handler_(connection, *request);
  }
}

std::string HttpResponse(int status, std::string_view body, std::string_view content_type,
                         std::string_view extra_headers) {
  return absl::StrCat(
      "HTTP/1.1 ", status, " ", AsAbsl(Reason(status)), "\r\nContent-Type: ", AsAbsl(content_type),
      "\r\nContent-Length: ", body.size(), "\r\n", AsAbsl(extra_headers), "\r\n", AsAbsl(body));
}

std::string ChunkedHead(int status, std::string_view content_type) {
  return absl::StrCat("HTTP/1.1 ", status, " ", AsAbsl(Reason(status)),
                      "\r\nContent-Type: ", AsAbsl(content_type),
                      "\r\nTransfer-Encoding: chunked\r\n\r\n");
}

std::string Chunk(std::string_view data) {
  return absl::StrCat(absl::Hex(data.size()), "\r\n", AsAbsl(data), "\r\n");
}

std::string LastChunk() { return "0\r\n\r\n"; }

std::string StatusBody(int code, std::string_view reason, std::string_view message) {
  return absl::StrCat(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)",
                      R"("message":")", AsAbsl(message), R"(","reason":")", AsAbsl(reason),
                      R"(","code":)", code, "}");
}

}  // namespace drover::kube::fake
