// The admin listener: a few plain HTTP endpoints (/metrics, /healthz, /readyz, and what later
// parts register) served by one thread of its own, so a scrape never runs on a data-path
// thread. Each connection carries one request and is closed after the answer.
//
//   AdminServer admin(address);
//   admin.Handle("GET", "/healthz", [] { return AdminResponse{200, "text/plain", "ok\n"}; });
//   absl::Status s = admin.Start();   // binds; serves on its own thread until Stop()
#ifndef DROVER_SIDECAR_ADMIN_ADMIN_SERVER_H_
#define DROVER_SIDECAR_ADMIN_ADMIN_SERVER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "sidecar/net/socket.h"

namespace drover::admin {

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class AdminServer {
 public:
  explicit AdminServer(net::SocketAddress address) : address_(address) {}
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Registers a handler before Start(). `method` is "GET" or "POST"; GET also answers HEAD.
  void Handle(std::string method, std::string path, std::function<AdminResponse()> handler);
  absl::Status Start();
  void Stop();
  // The bound address (after Start), with the real port when 0 was asked for.
  const net::SocketAddress& address() const { return address_; }

 private:
  struct Route {
    std::string method;
    std::string path;
    std::function<AdminResponse()> handler;
  };
  void Serve();
  void ServeConnection(int fd);

  net::SocketAddress address_;
  std::vector<Route> routes_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace drover::admin

#endif  // DROVER_SIDECAR_ADMIN_ADMIN_SERVER_H_
