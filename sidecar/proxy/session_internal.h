// Small helpers shared by the files that implement Session (see session.h); not an interface.
//
//   int64_t start = MonotonicNs();
//   if (n < 0 && WouldBlock(errno)) ...
#ifndef DROVER_SIDECAR_PROXY_SESSION_INTERNAL_H_
#define DROVER_SIDECAR_PROXY_SESSION_INTERNAL_H_

#include <cerrno>
#include <cstdint>
#include <ctime>

namespace drover::proxy {

// The access log's status for a request whose client went away before any response (nginx's).
inline constexpr int kClientClosedRequest = 499;

inline uint32_t NowSeconds() { return static_cast<uint32_t>(time(nullptr)); }

inline int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace drover::proxy

#endif  // DROVER_SIDECAR_PROXY_SESSION_INTERNAL_H_
