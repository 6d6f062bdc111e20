#include "sidecar/net/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace drover::net {
using drover::AsAbsl;

absl::StatusOr<SocketAddress> SocketAddress::Parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  bool v6 = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", AsAbsl(text), "': want [V6]:PORT"));
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    v6 = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", AsAbsl(text), "': want HOST:PORT"));
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(AsAbsl(port_text), &port) || port > 65535 || port_text.empty() ||
      port_text.front() == '+' || port_text.front() == '-') {
    return absl::InvalidArgumentError(absl::StrCat("bad port in '", AsAbsl(text), "'"));
  }
  if (host == "localhost") host = "127.0.0.1";
  if (host.empty()) host = "0.0.0.0";
  SocketAddress out;
  std::string host_z(host);
  if (!v6) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage_);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host_z.c_str(), &sin->sin_addr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", AsAbsl(text), "': host must be an IPv4 literal or [IPv6]"));
    }
    out.length_ = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage_);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host_z.c_str(), &sin6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("bad IPv6 address in '", AsAbsl(text), "'"));
    }
    out.length_ = sizeof(sockaddr_in6);
  }
  return out;
}

SocketAddress SocketAddress::FromSockaddr(const sockaddr* sa, socklen_t len) {
  SocketAddress out;
  if (len > sizeof(out.storage_)) len = sizeof(out.storage_);
  std::memcpy(&out.storage_, sa, len);
  out.length_ = len;
  return out;
}

absl::StatusOr<SocketAddress> SocketAddress::Unix(std::string_view path) {
  SocketAddress out;
  auto* sun = reinterpret_cast<sockaddr_un*>(&out.storage_);
  if (path.empty() || path.size() >= sizeof(sun->sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("unix socket path '", AsAbsl(path),
                                                   "' is empty or longer than ",
                                                   sizeof(sun->sun_path) - 1, " bytes"));
  }
  sun->sun_family = AF_UNIX;
  std::memcpy(sun->sun_path, path.data(), path.size());
  out.length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return out;
}

std::string SocketAddress::UnixPath() const {
  if (family() != AF_UNIX) return {};
  const auto* sun = reinterpret_cast<const sockaddr_un*>(&storage_);
  return {sun->sun_path, strnlen(sun->sun_path, sizeof(sun->sun_path))};
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

void SocketAddress::set_port(uint16_t port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
}

bool SocketAddress::IsUnspecified() const {
  if (family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  if (family() == AF_INET6) {
    return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
  }
  return false;
}

std::string SocketAddress::HostString() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
              sizeof(buf));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
              sizeof(buf));
  } else {
    return "unix";
  }
  return buf;
}

std::string SocketAddress::ToString() const {
  if (family() == AF_UNIX) return absl::StrCat("unix:", UnixPath());
  if (family() == AF_INET6) return absl::StrCat("[", HostString(), "]:", port());
  return absl::StrCat(HostString(), ":", port());
}

bool SocketAddress::IsLoopback() const {
  if (family() == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr) >> 24) == 127;
  }
  if (family() == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
  }
  return false;
}

namespace {

enum class PortSharing : uint8_t { kExclusive, kReusePort };

absl::StatusOr<int> Listen(const SocketAddress& address, int backlog, PortSharing sharing) {
  const std::string where = address.ToString();
  int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(where, ": socket"));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (sharing == PortSharing::kReusePort &&
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    int err = errno;
    close(fd);
    return absl::ErrnoToStatus(err, absl::StrCat(where, ": SO_REUSEPORT"));
  }
  if (bind(fd, address.sockaddr_ptr(), address.length()) != 0) {
    int err = errno;
    close(fd);
    if (err == EADDRINUSE) {
      return absl::UnavailableError(
          absl::StrCat(where, ": address already in use (another process holds it)"));
    }
    return absl::ErrnoToStatus(err, absl::StrCat(where, ": bind"));
  }
  if (listen(fd, backlog) != 0) {
    int err = errno;
    close(fd);
    return absl::ErrnoToStatus(err, absl::StrCat(where, ": listen"));
  }
  return fd;
}

}  // namespace

absl::StatusOr<int> ListenExclusive(const SocketAddress& address, int backlog) {
  return Listen(address, backlog, PortSharing::kExclusive);
}

absl::StatusOr<int> ListenReusePort(const SocketAddress& address, int backlog) {
  return Listen(address, backlog, PortSharing::kReusePort);
}

absl::StatusOr<std::vector<int>> ListenGroup(const SocketAddress& address, int count, int backlog) {
  std::vector<int> fds;
  auto fail = [&fds](absl::Status status) {
    for (int fd : fds) close(fd);
    return status;
  };
  absl::StatusOr<int> first = ListenExclusive(address, backlog);
  if (!first.ok()) return first.status();
  fds.push_back(*first);
  if (count <= 1) return fds;
  // Bound and listening alone, the first socket now lets the others join it.
  int one = 1;
  if (setsockopt(*first, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    return fail(absl::ErrnoToStatus(errno, absl::StrCat(address.ToString(), ": SO_REUSEPORT")));
  }
  absl::StatusOr<SocketAddress> bound = LocalAddress(*first);
  if (!bound.ok()) return fail(bound.status());
  while (static_cast<int>(fds.size()) < count) {
    absl::StatusOr<int> fd = ListenReusePort(*bound, backlog);
    if (!fd.ok()) return fail(fd.status());
    fds.push_back(*fd);
  }
  return fds;
}

absl::StatusOr<SocketAddress> LocalAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return absl::ErrnoToStatus(errno, "getsockname");
  }
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

absl::StatusOr<int> ConnectNonBlocking(const SocketAddress& address, bool& in_progress) {
  return ConnectNonBlockingFrom(SocketAddress(), address, in_progress);
}

absl::StatusOr<int> ConnectNonBlockingFrom(const SocketAddress& source,
                                           const SocketAddress& address, bool& in_progress) {
  int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  if (address.family() != AF_UNIX) SetNoDelay(fd);
  if (source.length() > 0) {
    // The port is chosen at connect, per destination, so binding does not use one up per
    // connection (IP_BIND_ADDRESS_NO_PORT).
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    SocketAddress local = source;
    local.set_port(0);
    if (bind(fd, local.sockaddr_ptr(), local.length()) != 0) {
      int err = errno;
      close(fd);
      return absl::ErrnoToStatus(err, "bind");
    }
  }
  in_progress = false;
  if (connect(fd, address.sockaddr_ptr(), address.length()) != 0) {
    if (errno == EINPROGRESS) {
      in_progress = true;
    } else {
      int err = errno;
      close(fd);
      // A Unix socket whose listen queue is full (or, on TCP, no local port left): the peer is
      // there but cannot take the connection now.
      if (err == EAGAIN) return absl::ResourceExhaustedError("connect: no room (EAGAIN)");
      return absl::ErrnoToStatus(err, "connect");
    }
  }
  return fd;
}

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace drover::net
