#include "sidecar/admin/admin_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "sidecar/http/rewrite.h"

namespace drover::admin {
using drover::AsAbsl;

namespace {

// Admin requests carry no body worth reading; one up to this size is read and dropped, a larger
// one gets 413 and the connection closes.
constexpr uint64_t kMaxBodyBytes = 64 * 1024;

std::string Reply(int status, std::string_view content_type, std::string_view body, bool head_only,
                  bool keep_alive, std::string_view extra_fields = {}) {
  std::string out = absl::StrCat(
      "HTTP/1.1 ", status, " ", AsAbsl(drover::http::StatusReason(status)), "\r\nContent-Type: ",
      content_type.empty() ? "text/plain; charset=utf-8" : AsAbsl(content_type),
      "\r\nContent-Length: ", body.size(), "\r\nCache-Control: no-store\r\n", AsAbsl(extra_fields),
      keep_alive ? "" : "Connection: close\r\n", "\r\n");
  if (!head_only) out.append(body);
  return out;
}

std::string_view FindField(const http::RequestHead& head, std::string_view name) {
  for (size_t i = 0; i < head.header_count; ++i) {
    if (EqualsIgnoreCase(head.headers[i].name, name)) return head.headers[i].value;
  }
  return {};
}

}  // namespace

// One admin client connection: reads request heads, answers each in order, and keeps the
// connection for the next one. Lives on the admin loop's thread.
class AdminServer::Connection : public net::EventHandler, public net::TimerHandler {
 public:
  Connection(AdminServer& server, int fd) : server_(server), fd_(fd) {}
  ~Connection() override { close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }
  net::Timer& timer() { return timer_; }

  void OnEvents(uint32_t events) override {
    if (closed_) return;
    if ((events & EPOLLERR) != 0) {
      server_.Close(this);
      return;
    }
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0 && !Read()) return;
    Flush();
  }

  // Head or response deadline: a request head that never completed gets a 408 (best effort:
  // one send) before the close; an idle keep-alive connection is simply closed.
  void OnTimeout() override {
    if (!in_.empty() && out_.empty() && body_left_ == 0) {
      std::string reply = Reply(408, "text/plain", "request head timeout\n", false, false);
      [[maybe_unused]] ssize_t n = send(fd_, reply.data(), reply.size(), MSG_NOSIGNAL);
    }
    server_.Close(this);
  }

  bool closed() const { return closed_; }
  void MarkClosed() { closed_ = true; }

  std::list<std::unique_ptr<Connection>>::iterator position;

 private:
  // Reads what the socket has; false when the connection was closed.
  bool Read() {
    char chunk[8192];
    for (;;) {
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        in_.append(chunk, static_cast<size_t>(n));
        // A head is bounded by the parser's limits; a client that sends more than it may
        // without waiting for answers is cut off.
        if (in_.size() > server_.limits_.max_head_bytes + kMaxBodyBytes + sizeof(chunk)) {
          server_.Close(this);
          return false;
        }
        continue;
      }
      if (n == 0) {
        peer_done_ = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      server_.Close(this);
      return false;
    }
    Process();
    if (closed_) return false;
    if (peer_done_ && out_.empty()) {
      server_.Close(this);
      return false;
    }
    return true;
  }

  // Drops the body of the request just answered; then answers the next request in `in_`, one
  // at a time: the next is parsed only once the previous answer is sent.
  void Process() {
    while (!closing_ && out_.empty()) {
      if (!DropBody()) return;
      if (in_.empty()) return;
      http::RequestHead& head = server_.head_;
      http::ParseResult r = http::ParseRequestHead(in_, server_.limits_, head);
      if (r.status == http::ParseStatus::kIncomplete) return;
      if (r.status == http::ParseStatus::kError) {
        out_ = Reply(http::ParseErrorStatus(r.error), "text/plain",
                     absl::StrCat("bad request: ", AsAbsl(http::ParseErrorName(r.error)), "\n"),
                     false, false);
        closing_ = true;
        break;
      }
      // The answer has its own deadline; so has the next head, once the answer is sent.
      server_.deadlines_.Arm(timer_, server_.loop_->now_ms());
      bool keep_alive = head.KeepAlive() && !peer_done_;
      if ((head.body == http::BodyKind::kLength && head.content_length > kMaxBodyBytes) ||
          head.body == http::BodyKind::kChunked) {
        // Chunked bodies are not worth a decoder here: no admin route takes a body.
        out_ = Reply(head.body == http::BodyKind::kChunked ? 411 : 413, "text/plain",
                     "admin requests take no body\n", head.method == http::Method::kHead, false);
        closing_ = true;
        break;
      }
      out_ = server_.Answer(head, keep_alive);
      if (!keep_alive) closing_ = true;
      body_left_ = head.body == http::BodyKind::kLength ? head.content_length : 0;
      in_.erase(0, head.head_bytes);
    }
  }

  // Discards body bytes still expected; false while some are still to come.
  bool DropBody() {
    if (body_left_ == 0) return true;
    size_t n = static_cast<size_t>(std::min<uint64_t>(body_left_, in_.size()));
    in_.erase(0, n);
    body_left_ -= n;
    return body_left_ == 0;
  }

  // Sends what is pending; then, once an answer is all sent, answers a pipelined request that
  // may already be here.
  void Flush() {
    for (;;) {
      while (sent_ < out_.size()) {
        ssize_t n = send(fd_, out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
        if (n > 0) {
          sent_ += static_cast<size_t>(n);
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT resumes
        server_.Close(this);
        return;
      }
      if (out_.empty()) return;
      out_.clear();
      sent_ = 0;
      if (closing_ || (peer_done_ && body_left_ == 0 && in_.empty())) {
        server_.Close(this);
        return;
      }
      server_.deadlines_.Arm(timer_, server_.loop_->now_ms());
      server_.Touch(this);
      Process();
      if (closed_ || out_.empty()) return;
    }
  }

  AdminServer& server_;
  const int fd_;
  net::Timer timer_{this};
  std::string in_;
  std::string out_;
  size_t sent_ = 0;
  uint64_t body_left_ = 0;
  bool closing_ = false;    // close once `out_` is sent
  bool peer_done_ = false;  // the client shut its side
  bool closed_ = false;
};

AdminServer::AdminServer(AdminOptions options) : options_(std::move(options)) {}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Handle(std::string method, std::string path,
                         std::function<AdminResponse()> handler) {
  routes_.push_back({std::move(method), std::move(path), std::move(handler)});
}

absl::Status AdminServer::Start() {
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop = net::EventLoop::Create();
  if (!loop.ok()) return loop.status();
  loop_ = *std::move(loop);
  absl::StatusOr<int> fd = net::ListenExclusive(options_.address, 128);
  if (!fd.ok()) return fd.status();
  listen_fd_ = *fd;
  absl::StatusOr<net::SocketAddress> bound = net::LocalAddress(listen_fd_);
  if (bound.ok()) options_.address = *bound;
  if (absl::Status s = loop_->AddListener(listen_fd_, this); !s.ok()) return s;
  loop_->AddTimerList(&deadlines_);
  loop_->AddTimerList(&accept_pause_);
  thread_ = std::thread([this] { loop_->Run(); });
  return absl::OkStatus();
}

void AdminServer::Stop() {
  if (thread_.joinable()) {
    loop_->Stop();
    thread_.join();
  }
  for (auto& connection : connections_) connection->timer().Cancel();
  connections_.clear();
  accept_resume_.Cancel();
  loop_.reset();
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
}

void AdminServer::OnEvents(uint32_t /*events*/) {
  // Level-triggered listener: take a bounded batch, the rest wakes us again.
  for (int i = 0; i < 64; ++i) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (net::OutOfDescriptors(errno)) PauseAccepting();
      return;  // EAGAIN: drained
    }
    if (connections_.size() >= options_.max_connections) {
      if (!told_full_) {
        std::fprintf(stderr,
                     "drover-sidecar: admin: %zu connections open; each new one closes the one "
                     "that has waited longest (logged once)\n",
                     connections_.size());
        told_full_ = true;
      }
      Close(connections_.front().get());
    }
    auto connection = std::make_unique<Connection>(*this, fd);
    Connection* c = connection.get();
    connections_.push_back(std::move(connection));
    c->position = std::prev(connections_.end());
    deadlines_.Arm(c->timer(), loop_->now_ms());
    if (!loop_->Add(fd, c).ok()) Close(c);
  }
}

void AdminServer::PauseAccepting() {
  if (accept_paused_) return;
  accept_paused_ = true;
  loop_->Remove(listen_fd_);
  accept_pause_.Arm(accept_resume_, loop_->now_ms());
}

void AdminServer::OnTimeout() {
  accept_paused_ = false;
  if (!loop_->AddListener(listen_fd_, this).ok()) PauseAccepting();
}

void AdminServer::Close(Connection* connection) {
  if (connection->closed()) return;
  connection->MarkClosed();
  connection->timer().Cancel();
  loop_->Remove(connection->fd());
  std::unique_ptr<Connection> owned = std::move(*connection->position);
  connections_.erase(connection->position);
  loop_->DeleteLater(std::move(owned));
}

void AdminServer::Touch(Connection* connection) {
  connections_.splice(connections_.end(), connections_, connection->position);
}

std::string AdminServer::Answer(const http::RequestHead& head, bool keep_alive) {
  std::string_view path = head.target.substr(0, head.target.find('?'));
  const bool head_only = head.method == http::Method::kHead;
  std::string_view method = head_only ? "GET" : head.method_text;
  bool path_known = false;
  for (const Route& route : routes_) {
    if (route.path != path) continue;
    path_known = true;
    if (route.method != method) continue;
    if (route.method != "GET") {
      if (options_.token != nullptr) {
        std::string_view presented = TokenFile::BearerToken(FindField(head, "Authorization"));
        if (presented.empty() || !options_.token->Matches(presented)) {
          return Reply(401, "text/plain",
                       absl::StrCat(route.method, " ", route.path,
                                    " needs Authorization: Bearer <the token of "
                                    "--admin-token-file>\n"),
                       head_only, keep_alive,
                       "WWW-Authenticate: Bearer realm=\"drover-sidecar\"\r\n");
        }
      } else if (!options_.address.IsLoopback()) {
        return Reply(403, "text/plain",
                     absl::StrCat(route.method, " ", route.path,
                                  " is refused: this admin listener is not on a loopback "
                                  "address and the sidecar has no --admin-token-file\n"),
                     head_only, keep_alive);
      }
    }
    AdminResponse response = route.handler();
    return Reply(response.status, response.content_type, response.body, head_only, keep_alive);
  }
  if (path_known) return Reply(405, "text/plain", "method not allowed\n", head_only, keep_alive);
  return Reply(404, "text/plain",
               "not found: try /metrics, /healthz, /readyz, /status or POST /reload\n", head_only,
               keep_alive);
}

}  // namespace drover::admin
