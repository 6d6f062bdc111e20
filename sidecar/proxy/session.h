// One client connection and the backend connection serving its current request.
//
// A session moves through phases: kHead (waiting for a request head), kForward (a request
// in flight: its body streams to the backend while the response streams back), kTunnel
// (after a 101, or from the start in TCP mode: bytes both ways), kLinger (an answer that
// closes the connection was sent; what the client still sends is read and dropped so the
// answer is not lost to a reset), kClosed. Bodies are never held whole: each direction
// forwards what the framing allows straight out of the buffer it was read into, and stops
// reading while the other side is not writable.
//
// Session is one class; its member functions are kept by job, one file each:
//   session.cc         the connection: life cycle, events and timers, the pump moving bytes
//   http1_codec.cc     HTTP/1 framing: parsing heads, body lengths, dechunking, local answers
//   route.cc           where a request goes: the sticky decision, then the balancer
//   upstream.cc        backend connections: connect, keep-alive pool, release
//   retry.cc           what a failed backend connection becomes: a retry or an error answer
//   peer_forward.cc    relaying to another member's sidecar, and falling back to serving here
//   app_route.cc       sticky keys the app issues: the route prefix off requests, onto responses
//   tcp_session.cc     --mode=tcp: a byte relay from the first byte
//   queue.cc           --worker-max-inflight: a place on a worker, or waiting for one
//   request_log.cc     --access-log: what a request's line says
// The hot path stays as it was: no virtual calls and no allocations were added by the split.
//
//   auto* session = new Session(thread, fd, peer_ip, /*from_peer=*/false);
//   session->Start();   // registers with the loop; events drive it from then on
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
#include "sidecar/proxy/upstream.h"
#include "sidecar/sticky/members.h"
#include "sidecar/sticky/policy.h"

namespace drover::proxy {

class LoopThread;

class Session : public net::EventHandler, public net::TimerHandler {
 public:
  // `from_peer`: accepted on the peer listener. Its requests are never forwarded again; each is
  // trusted as forwarded by a member only with a proof (CheckHop), else served as a public one.
  Session(LoopThread& thread, int fd, std::string peer_ip, bool from_peer);
  ~Session() override;
  void Start();
  void OnEvents(uint32_t events) override;
  void OnTimeout() override;
  void OnUpstreamEvents(uint32_t events);
  void OnUpstreamTimeout();
  // queue.cc. The place this request waited for is taken for it on `backend` (its loop thread
  // calls this for a grant whose ticket is queue_ticket()).
  void OnRoomGranted(int backend);
  uint64_t queue_ticket() const { return queue_ticket_; }
  // Closes both connections at once (thread shutdown, errors).
  void Close();
  // Closes the connection if it is between requests (draining).
  void CloseIfIdle();

 private:
  enum class Phase : uint8_t { kHead, kForward, kTunnel, kLinger, kClosed };
  enum class RequestBody : uint8_t { kStreaming, kDone };
  enum class Response : uint8_t { kAwaitingHead, kBody, kLocal };
  enum class ClientTimer : uint8_t { kNone, kHeader, kBody, kIdle, kTunnel, kLinger, kQueue };

  void Pump();
  bool ReadClient();
  bool ReadUpstream();
  bool WriteUpstream();
  bool WriteClient();
  bool Dechunk();
  bool ParseRequest();
  bool ParseResponse();
  void StartRequest(const http::RequestHead& head);
  // route.cc. The sticky decision for a request (counted), setting what its response needs
  // to set the cookie.
  sticky::StickyRoute ChooseRoute(const http::RequestHead& head, bool https);
  // The backend for a request: `slot` (a sticky session's) when it is up and not `exclude`,
  // else the balancer's pick; -1 when none is up. A pick other than `slot` re-homes a cookie
  // session (its response sets a new cookie).
  int PickBackend(int exclude, int slot);
  // The Set-Cookie (and Cache-Control) lines a response gets when its session is new here.
  std::string StickyResponseFields(const http::ResponseHead& head);
  // upstream.cc. Picks a backend and starts using a pooled or new connection to it; false when
  // no backend is up. A connect that fails at once is handled (retried or answered) before
  // returning. `slot` >= 0 asks for that backend (a sticky session's) when it is up.
  bool ConnectBackend(int exclude, int slot = -1);
  // Starts using a pooled or new connection to backend `b` for the request.
  void ConnectTo(int b);
  // queue.cc. With --worker-max-inflight: the backend on which a place was taken for the
  // request, kWaiting (it waits in the queue, or was answered 503 because the queue is full), or
  // -1 when no backend is up.
  static constexpr int kWaiting = -100;
  int AcquireRoom(int slot);
  // Gives back the request's place on its backend, handing it to a waiter.
  void ReleaseRoom();
  // Leaves the queue (the client went away, the thread stops).
  void LeaveQueue();
  void OnQueueTimeout();
  // 503 with Retry-After: 1, for a passing shortage (queue full, waited too long, a worker
  // whose listen queue is full).
  void FailRetryLater(std::string_view text, metrics::ErrorReason reason);
  // request_log.cc. Notes what the access log line needs from the head (only with --access-log).
  void NoteRequestForLog(const http::RequestHead& head);
  // Hands the finished request's line to the thread's access log buffer.
  void LogRequest();
  // peer_forward.cc. Whether a request on the peer listener proves that a member forwarded it:
  // a good Drover-Hop token when the members share a secret, else a member's source address.
  // kRejected: a token is there but wrong (bad MAC, unknown member, outside the window): 403.
  enum class HopTrust : uint8_t { kPublic, kMember, kRejected };
  HopTrust CheckHop(const http::RequestHead& head);
  // Relays the request to another member's sidecar (its session lives there).
  void ConnectPeer(const sticky::Member& member);
  // Adds what the next sidecar needs in fields of their own (request_head_): the session cookie
  // (when not empty) and, with a shared secret, the Drover-Hop token for `member`.
  void AddPeerFields(const sticky::Member& member, std::string_view cookie);
  // The peer could not be reached before any answer: serve here (a new cookie) or fail.
  void FallBackFromPeer(metrics::ErrorReason reason);
  // app_route.cc. Finds the route prefix the request's key carries in request_head_ and takes it
  // off at once, unless the request goes to another member's sidecar (which decides by it).
  void TakeRoutePrefix(const sticky::StickyRoute& route, bool handshake);
  // Takes the route prefix off request_head_ (a request served here after all).
  void StripRoutePrefix();
  // False while the response's body must be read whole first (an Engine.IO handshake).
  bool StickyBodyReady(const http::ResponseHead& head);
  // A response served here issuing an app key gets this slot's route (Set-Cookie, open packet),
  // in response_head_ from `head_start` on.
  void RouteStickyResponse(size_t head_start);
  // tcp_session.cc. TCP mode: a tunnel to a backend from the start.
  void StartTcp();
  // A TCP-mode backend connection failed: one more connect when the first one failed, or close.
  void RetryTcpConnect(bool connect_failed);
  void FinishRequest();
  void FailRequest(int status, std::string_view text, metrics::ErrorReason reason);
  void OnUpstreamFailure(metrics::ErrorReason reason);
  // Settles a closed side after a round of the pump; true when that moved something.
  bool HandleEnds();
  // --client-body-timeout fired: 408, unless the backend is what holds the body up.
  void OnBodyTimeout();
  // True while the request body is expected from the client and nothing waits for the backend
  // (no unsent bytes, no 100 Continue awaited): silence now is the client's.
  bool BodyAwaitsClient();
  bool ResponseComplete() const;
  void StartLinger();
  void ArmClientTimer(ClientTimer kind);
  void ReleaseUpstream(bool reusable);
  // Ends the outstanding count of the request on its backend; `answered` counts it served.
  void EndOutstanding(bool answered = false);
  size_t ForwardableRequestBody(bool& error);
  size_t ForwardableResponseBody(bool& error);
  std::string BackendName() const;

  LoopThread& thread_;
  int fd_;
  std::string peer_ip_;
  const bool from_peer_;
  net::Buffer in_;
  http::HeadScanner head_scan_;  // how far the head in in_ was looked at (kHead)
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
  // The FIN came with complete requests still unread behind it (pipelined): answer them all.
  bool fin_behind_pipeline_ = false;
  bool shut_write_ = false;

  // The request in flight.
  http::Method method_ = http::Method::kGet;
  int version_minor_ = 1;
  bool request_keep_alive_ = true;
  bool upgrade_ = false;
  bool expect_continue_ = false;  // the client may wait for a 100 before sending its body
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
  // --worker-max-inflight: the backend this request holds a place on (-1: none), and while it
  // waits for one, its ticket, the slot it waits for (-1: any) and since when.
  int room_backend_ = -1;
  uint64_t queue_ticket_ = 0;
  int queue_slot_ = -1;
  int64_t queued_ns_ = 0;
  // --access-log: the request's method and target, its sticky decision, its timings and the
  // bytes sent to the client (times are monotonic ns; 0 or -1: not reached).
  std::string log_request_;  // "METHOD TARGET"
  int64_t log_unix_ms_ = 0;
  int sticky_result_ = -1;
  int64_t queue_wait_ns_ = -1;
  int64_t connect_start_ns_ = 0;
  int64_t connected_ns_ = 0;
  int64_t response_head_ns_ = 0;
  uint64_t request_head_bytes_ = 0;
  uint64_t response_bytes_ = 0;
  // Sticky sessions: set the cookie on the response (naming the slot that answered), and
  // whether this request is relayed to another member's sidecar.
  bool set_cookie_ = false;
  bool cookie_secure_ = false;
  // Forwarded by a member (a request on the peer listener with a proof): its X-Forwarded-* are
  // believed. A request on the peer listener without one is public, but still never forwarded.
  bool trusted_hop_ = false;
  uint32_t cookie_issued_ = 0;
  std::shared_ptr<const sticky::MemberTable> peer_table_;  // keeps peer_ valid
  const sticky::Member* peer_ = nullptr;
  size_t peer_fields_at_ = 0;  // the fields added for the peer, within request_head_
  size_t peer_fields_size_ = 0;
  size_t route_prefix_at_ = 0;  // app key's route prefix, within request_head_
  size_t route_prefix_size_ = 0;
  bool open_packet_ = false;  // an Engine.IO handshake (--sticky=socketio)

  // Its response.
  Response response_state_ = Response::kAwaitingHead;
  http::BodyKind response_body_ = http::BodyKind::kNone;
  uint64_t response_remaining_ = 0;
  size_t response_validated_ = 0;
  http::ChunkedDecoder response_chunked_;
  std::string response_head_;
  size_t response_head_sent_ = 0;
  int status_ = 0;
  int interim_responses_ = 0;  // 1xx heads received before the final one
  bool response_started_ = false;
  bool client_keep_alive_ = true;
  bool upstream_keep_alive_ = false;
  bool dechunk_ = false;  // chunked response to an HTTP/1.0 client: sent as payload only
};

}  // namespace drover::proxy

#endif  // DROVER_SIDECAR_PROXY_SESSION_H_
