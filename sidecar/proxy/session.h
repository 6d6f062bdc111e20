// One client connection and the backend connection serving its current request.
//
// A session moves through phases: kHead (waiting for a request head), kForward (a request
// in flight: its body streams to the backend while the response streams back), kTunnel
// (after a 101, or from the start in TCP mode: bytes both ways), kLinger (an answer that
// closes the connection was sent; what the client still sends is read and dropped so the
// answer is not lost to a reset), kClosed. Bodies are never held whole: each direction
// forwards what the framing allows straight out of the buffer it was read into, and stops
// reading while the other side is not writable.
#ifndef DROVER_SIDECAR_PROXY_SESSION_H_
#define DROVER_SIDECAR_PROXY_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>

#include "sidecar/http/parser.h"
#include "sidecar/metrics/stats.h"
#include "sidecar/net/buffer.h"
#include "sidecar/net/event_loop.h"
#include "sidecar/net/timer_list.h"
#include "sidecar/sticky/members.h"

namespace drover::proxy {

class Worker;
class Session;

// A connection to one backend, owned by a session while it serves a request and by the
// worker's pool while it is kept alive unused.
class UpstreamConnection : public net::EventHandler, public net::TimerHandler {
 public:
  UpstreamConnection(Worker& worker, int fd, size_t backend, uint64_t target, bool connecting);
  ~UpstreamConnection() override;
  void OnEvents(uint32_t events) override;
  void OnTimeout() override;
  // Closes the socket now and frees the object after the current batch of events.
  void Destroy();

 private:
  friend class Session;
  friend class Worker;
  Worker& worker_;
  int fd_;
  size_t backend_;
  uint64_t target_;  // the backend's target (generation, port) this connection went to
  net::Buffer in_;
  net::Timer timer_{this};
  Session* owner_ = nullptr;
  bool connecting_;
  bool readable_ = false;
  bool writable_ = false;
  bool hangup_ = false;  // EPOLLRDHUP seen: a short read no longer means "drained"
  bool eof_ = false;
  bool reused_ = false;
  bool shut_write_ = false;
};

class Session : public net::EventHandler, public net::TimerHandler {
 public:
  // `from_peer`: accepted on the peer listener, so another member's sidecar sent it and it is
  // never forwarded again.
  Session(Worker& worker, int fd, std::string peer_ip, bool from_peer);
  ~Session() override;
  void Start();
  void OnEvents(uint32_t events) override;
  void OnTimeout() override;
  void OnUpstreamEvents(uint32_t events);
  void OnUpstreamTimeout();
  // Closes both connections at once (worker shutdown, errors).
  void Close();
  // Closes the connection if it is between requests (draining).
  void CloseIfIdle();

 private:
  enum class Phase : uint8_t { kHead, kForward, kTunnel, kLinger, kClosed };
  enum class RequestBody : uint8_t { kStreaming, kDone };
  enum class Response : uint8_t { kAwaitingHead, kBody, kLocal };
  enum class ClientTimer : uint8_t { kNone, kHeader, kIdle, kTunnel, kLinger };

  void Pump();
  bool ReadClient();
  bool ReadUpstream();
  bool WriteUpstream();
  bool WriteClient();
  bool Dechunk();
  bool ParseRequest();
  bool ParseResponse();
  void StartRequest(const http::RequestHead& head);
  // Picks a backend and starts using a pooled or new connection to it; false when no backend
  // is up. A connect that fails at once is handled (retried or answered) before returning.
  // `slot` >= 0 asks for that backend (a sticky session's) when it is up.
  bool ConnectBackend(int exclude, int slot = -1);
  // Relays the request to another member's sidecar (its session lives there).
  void ConnectPeer(const sticky::Member& member);
  // The Set-Cookie (and Cache-Control) lines a response gets when its session is new here.
  std::string StickyResponseFields(const http::ResponseHead& head);
  void FinishRequest();
  void FailRequest(int status, std::string_view text, metrics::ErrorReason reason);
  void OnUpstreamFailure(metrics::ErrorReason reason);
  void HandleEnds();
  bool ResponseComplete() const;
  void StartLinger();
  void ArmClientTimer(ClientTimer kind);
  void ReleaseUpstream(bool reusable);
  // Ends the outstanding count of the request on its backend; `answered` counts it served.
  void EndOutstanding(bool answered = false);
  size_t ForwardableRequestBody(bool& error);
  size_t ForwardableResponseBody(bool& error);
  std::string BackendName() const;

  Worker& worker_;
  int fd_;
  std::string peer_ip_;
  const bool from_peer_;
  net::Buffer in_;
  net::Timer timer_{this};
  UpstreamConnection* up_ = nullptr;

  Phase phase_ = Phase::kHead;
  ClientTimer timer_kind_ = ClientTimer::kNone;
  bool readable_ = false;
  bool writable_ = false;
  // EPOLLRDHUP seen: the FIN may already be queued behind the data, and edge-triggered epoll
  // will not report it again, so reads go on until read() says 0.
  bool hangup_ = false;
  bool eof_ = false;
  bool shut_write_ = false;

  // The request in flight.
  http::Method method_ = http::Method::kGet;
  int version_minor_ = 1;
  bool request_keep_alive_ = true;
  bool upgrade_ = false;
  RequestBody request_body_state_ = RequestBody::kDone;
  http::BodyKind request_body_ = http::BodyKind::kNone;
  uint64_t request_remaining_ = 0;
  size_t request_validated_ = 0;
  uint64_t request_body_forwarded_ = 0;
  http::ChunkedDecoder request_chunked_;
  std::string request_head_;
  size_t request_head_sent_ = 0;
  int backend_ = -1;
  size_t backend_parity_ = 0;
  bool outstanding_ = false;
  bool retried_ = false;
  int64_t start_ns_ = 0;
  // Sticky sessions: set the cookie on the response (naming the slot that answered), and
  // whether this request is relayed to another member's sidecar.
  bool set_cookie_ = false;
  bool cookie_secure_ = false;
  uint32_t cookie_issued_ = 0;
  std::shared_ptr<const sticky::MemberTable> peer_table_;  // keeps peer_ valid
  const sticky::Member* peer_ = nullptr;
  size_t peer_cookie_at_ = 0;  // the Cookie field added for the peer, within request_head_
  size_t peer_cookie_size_ = 0;

  // Its response.
  Response response_state_ = Response::kAwaitingHead;
  http::BodyKind response_body_ = http::BodyKind::kNone;
  uint64_t response_remaining_ = 0;
  size_t response_validated_ = 0;
  http::ChunkedDecoder response_chunked_;
  std::string response_head_;
  size_t response_head_sent_ = 0;
  int status_ = 0;
  bool response_started_ = false;
  bool client_keep_alive_ = true;
  bool upstream_keep_alive_ = false;
  bool dechunk_ = false;  // chunked response to an HTTP/1.0 client: sent as payload only
};

}  // namespace drover::proxy

#endif  // DROVER_SIDECAR_PROXY_SESSION_H_
