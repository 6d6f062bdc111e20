// A raw-socket HTTP/1.1 server on 127.0.0.1, port 0, for the cluster API client's tests: the
// test's handler writes every byte of every response, so it can split a chunked watch body at
// any byte, stay silent, or cut the connection mid-event.
//
//   FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request& r) {
//     if (r.path == "/api/v1/pods") c.Write(JsonResponse(200, R"({"items":[]})"));
//   });
//   config.server = server.url();
//
// Each connection gets its own thread and is served request after request until the client
// closes it. The destructor closes everything and wakes handlers blocked in Sleep() or reads.
#ifndef DROVER_TESTS_CONTROLLER_KUBE_FAKE_API_SERVER_H_
#define DROVER_TESTS_CONTROLLER_KUBE_FAKE_API_SERVER_H_

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace drover::kube::fake {

class FakeApiServer {
 public:
  struct Request {
    std::string method;
    std::string target;  // path and query as sent
    std::string path;
    std::string query;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    // The first header of that name (case-insensitive), "" if none.
    std::string Header(std::string_view name) const;
    // The decoded value of a query parameter, nullopt if absent.
    std::optional<std::string> Param(std::string_view name) const;
  };

  class Connection {
   public:
    Connection(FakeApiServer* server, int fd) : server_(server), fd_(fd) {}
    ~Connection();
    // The next request (head, and a Content-Length body); nullopt at EOF, on a malformed
    // request or when the server shuts down.
    std::optional<Request> ReadRequest();
    // Writes all of `bytes` (TCP_NODELAY is on, so each Write leaves as its own segment).
    bool Write(std::string_view bytes);
    // Waits for `d` or until the server shuts down (false then).
    bool Sleep(absl::Duration d);
    // True once the peer has closed the connection, within `timeout`.
    bool WaitPeerClosed(absl::Duration timeout);
    void Close();

   private:
    FakeApiServer* server_;
    int fd_;
    std::string pending_;  // bytes read past the last request
  };

  using Handler = std::function<void(Connection&, const Request&)>;

  explicit FakeApiServer(Handler handler);
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  std::string url() const;  // "http://127.0.0.1:PORT"
  int port() const { return port_; }
  // Every request received so far, in arrival order.
  std::vector<Request> requests() const;
  // Waits until `n` requests have arrived; false after `timeout`.
  bool WaitForRequests(size_t n, absl::Duration timeout) const;
  bool stopping() const;

 private:
  void AcceptLoop();
  void Serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread accept_thread_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int> open_fds_ ABSL_GUARDED_BY(mu_);
  std::list<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
};

// A complete response with Content-Length. `extra_headers` are "Name: value\r\n" lines.
std::string HttpResponse(int status, std::string_view body,
                         std::string_view content_type = "application/json",
                         std::string_view extra_headers = "");
// The head of a chunked response, and one chunk of it; LastChunk() ends the body.
std::string ChunkedHead(int status = 200, std::string_view content_type = "application/json");
std::string Chunk(std::string_view data);
std::string LastChunk();
// A metav1.Status body.
std::string StatusBody(int code, std::string_view reason, std::string_view message);

}  // namespace drover::kube::fake

#endif  // DROVER_TESTS_CONTROLLER_KUBE_FAKE_API_SERVER_H_
