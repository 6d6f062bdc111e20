// The admin listener: a few plain HTTP/1.1 endpoints (/metrics, /healthz, /readyz, /status,
// POST /reload) served by an event loop on a thread of its own, so a scrape never runs on a
// data-path thread, and no admin client, however slow or idle, holds up another: a probe is
// answered while any number of other admin connections sit open.
//
//   AdminOptions options;
//   options.address = *net::SocketAddress::Parse("127.0.0.1:9901");
//   options.token = *TokenFile::Open("/var/run/drover/admin-token");   // optional
//   AdminServer admin(std::move(options));
//   admin.Handle("GET", "/healthz", [] { return AdminResponse{200, {}, "ok\n"}; });
//   absl::Status s = admin.Start();   // binds; serves on its own thread until Stop()
//
// Connections are kept alive between requests. A connection gets `head_timeout` to send each
// request head (from its accept, or from the end of the previous response), and as long to take
// each response; then it is closed. Past `max_connections`, a new connection closes the one
// that has waited longest, so a probe always gets in.
//
// Routes with a method other than GET are mutating. With a token file they need
// "Authorization: Bearer <token>" (401 and WWW-Authenticate otherwise); without one they are
// served only on a loopback listener (127.0.0.0/8, ::1) and answer 403 elsewhere.
#ifndef DROVER_SIDECAR_ADMIN_ADMIN_SERVER_H_
#define DROVER_SIDECAR_ADMIN_ADMIN_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/token_file.h"
#include "sidecar/http/parser.h"
#include "sidecar/net/event_loop.h"
#include "sidecar/net/socket.h"
#include "sidecar/net/timer_list.h"

namespace drover::admin {

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct AdminOptions {
  net::SocketAddress address;
  // The bearer token of mutating routes (re-read when its file changes); null: none.
  std::unique_ptr<TokenFile> token;
  int64_t head_timeout_ms = 5000;
  size_t max_connections = 64;
};

class AdminServer : private net::EventHandler, private net::TimerHandler {
 public:
  explicit AdminServer(AdminOptions options);
  ~AdminServer() override;
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Registers a handler before Start(). `method` is "GET" or "POST"; GET also answers HEAD.
  // Handlers run on the admin thread, one at a time.
  void Handle(std::string method, std::string path, std::function<AdminResponse()> handler);
  // Binds (a port that another process holds is an error) and serves on its own thread until
  // Stop().
  absl::Status Start();
  void Stop();
  // The bound address (after Start), with the real port when 0 was asked for.
  const net::SocketAddress& address() const { return options_.address; }
  // Whether mutating routes are refused outright (403): no token file and not loopback.
  bool mutations_refused() const {
    return options_.token == nullptr && !options_.address.IsLoopback();
  }

 private:
  class Connection;
  struct Route {
    std::string method;
    std::string path;
    std::function<AdminResponse()> handler;
  };

  void OnEvents(uint32_t events) override;  // the listener: accept
  // Out of descriptors: the listener leaves epoll for kAcceptPauseMs (a level-triggered listener
  // with a connection pending would wake the loop without end), then comes back (OnTimeout).
  void PauseAccepting();
  void OnTimeout() override;
  // The answer to one parsed request (routing, authorization, the handler).
  std::string Answer(const http::RequestHead& head, bool keep_alive);
  void Close(Connection* connection);
  // Moves `connection` to the young end of the eviction order.
  void Touch(Connection* connection);

  AdminOptions options_;
  std::vector<Route> routes_;
  int listen_fd_ = -1;
  std::unique_ptr<net::EventLoop> loop_;
  std::thread thread_;
  // Loop-thread state. Oldest first: the one closed when a new connection finds no room.
  std::list<std::unique_ptr<Connection>> connections_;
  net::TimerList deadlines_{options_.head_timeout_ms};
  http::ParseLimits limits_;
  http::RequestHead head_;  // one parse at a time on the loop thread
  bool told_full_ = false;
  net::TimerList accept_pause_{net::kAcceptPauseMs};
  net::Timer accept_resume_{this};
  bool accept_paused_ = false;
};

}  // namespace drover::admin

#endif  // DROVER_SIDECAR_ADMIN_ADMIN_SERVER_H_
