// Socket addresses and the few socket calls the sidecar makes, with errors as absl::Status.
//
//   absl::StatusOr<SocketAddress> addr = SocketAddress::Parse("127.0.0.1:8080");
//   absl::StatusOr<std::vector<int>> fds = ListenGroup(*addr, /*count=*/4, /*backlog=*/4096);
//   absl::StatusOr<int> admin = ListenExclusive(*addr, /*backlog=*/128);
#ifndef DROVER_SIDECAR_NET_SOCKET_H_
#define DROVER_SIDECAR_NET_SOCKET_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace drover::net {

// An IPv4 or IPv6 address with a port, or a Unix-domain socket path (workers on Unix sockets).
class SocketAddress {
 public:
  SocketAddress() = default;
  // Accepts "HOST:PORT" (HOST an IPv4 literal or "localhost") and "[V6]:PORT".
  static absl::StatusOr<SocketAddress> Parse(std::string_view text);
  static SocketAddress FromSockaddr(const sockaddr* sa, socklen_t len);
  // A Unix-domain stream socket at `path`; fails when the path does not fit sockaddr_un.
  static absl::StatusOr<SocketAddress> Unix(std::string_view path);

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t length() const { return length_; }
  int family() const { return storage_.ss_family; }
  uint16_t port() const;  // 0 for a Unix socket
  void set_port(uint16_t port);
  // The path of a Unix socket; empty for IP addresses.
  std::string UnixPath() const;
  // "127.0.0.1" or "::1"
  std::string HostString() const;
  // 0.0.0.0 or :: (any address).
  bool IsUnspecified() const;
  // "127.0.0.1:80", "[::1]:80" or "unix:/path"
  std::string ToString() const;
  // 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104: only this host can reach a listener bound here.
  bool IsLoopback() const;

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

// A non-blocking listening socket that no other socket can share: SO_REUSEADDR (a restart binds
// over the previous run's TIME_WAIT connections) but not SO_REUSEPORT. A port that another
// process listens on, with or without SO_REUSEPORT, is an error: "ADDRESS: address already in
// use (another process holds it)".
absl::StatusOr<int> ListenExclusive(const SocketAddress& address, int backlog);

// `count` non-blocking listeners on one address, one per event-loop thread, among which the
// kernel spreads new connections (SO_REUSEPORT). The first is bound like ListenExclusive, so a
// port that another process listens on is the same error and a second drover-sidecar cannot
// join the group; only then does it take SO_REUSEPORT (Linux reads the option of a bound socket
// at each later bind and listen) and the others join it. With port 0 they all get the first
// one's port. Another process of the same user that sets SO_REUSEPORT itself can still join
// after that; no other socket can.
absl::StatusOr<std::vector<int>> ListenGroup(const SocketAddress& address, int count, int backlog);

// A non-blocking listening socket with SO_REUSEADDR and SO_REUSEPORT: it joins a group on the
// same address (ListenGroup's building block).
absl::StatusOr<int> ListenReusePort(const SocketAddress& address, int backlog);
// The address a bound socket really has (for port 0).
absl::StatusOr<SocketAddress> LocalAddress(int fd);
// Starts a non-blocking connect; `in_progress` tells whether it completes later (EPOLLOUT).
// ResourceExhausted when the peer cannot take it now (EAGAIN: a Unix socket's listen queue is
// full, or no local TCP port is left); other failures keep their errno's code.
absl::StatusOr<int> ConnectNonBlocking(const SocketAddress& address, bool& in_progress);
// The same from the local address `source` (its port ignored: the kernel picks one at connect).
absl::StatusOr<int> ConnectNonBlockingFrom(const SocketAddress& source,
                                           const SocketAddress& address, bool& in_progress);
// The pending error of a socket after a non-blocking connect (0 when connected).
int SocketError(int fd);
void SetNoDelay(int fd);

// accept() failed for want of descriptors or kernel memory (EMFILE, ENFILE, ENOBUFS, ENOMEM):
// the connection stays in the backlog, and a level-triggered listener would wake its loop
// again at once, so the listener leaves epoll for kAcceptPauseMs (as HAProxy and nginx do).
inline bool OutOfDescriptors(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}
inline constexpr int64_t kAcceptPauseMs = 100;

}  // namespace drover::net

#endif  // DROVER_SIDECAR_NET_SOCKET_H_
