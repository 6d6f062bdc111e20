// Whose is the socket listening where a worker should: the worker's own (it, or a process it
// started), another process's (a stray server on the slot's port, a previous generation still
// draining there), or nobody's yet. A connect alone cannot tell; the kernel's socket tables
// and the processes' descriptors can.
//
//   ListenerOwner owner = OwnerOfListener(address, worker_pid);
//   if (owner == ListenerOwner::kWorker) ...   // ready as far as ownership goes
//
// Reads /proc/net/tcp and tcp6 (or /proc/net/unix for a Unix socket) for the inodes of the
// sockets listening on the address, then /proc/PID/fd of the worker and its descendants for a
// descriptor on each. It walks /proc: for readiness checks only, never per request.
#ifndef DROVER_SIDECAR_SUPERVISOR_LISTENER_OWNER_H_
#define DROVER_SIDECAR_SUPERVISOR_LISTENER_OWNER_H_

#include <sys/types.h>

#include <cstdint>

#include "sidecar/net/socket.h"

namespace drover::supervisor {

enum class ListenerOwner : uint8_t {
  kWorker,  // every socket listening on the address is held by the worker's process tree
  kOther,   // at least one is held by some other process
  kNone,    // nothing listens there
  // Some are not found in the descriptors of the worker's tree, but a process of the tree
  // could not be looked at (/proc/PID/fd unreadable: a worker that switched to another user,
  // seen from a sidecar without CAP_SYS_PTRACE): ownership cannot be told.
  kUnknown,
};

// `address`: where the proxy connects (a wildcard listener on the port counts as listening
// there too). The worker's tree: `worker` itself, its descendants, and its process group.
ListenerOwner OwnerOfListener(const net::SocketAddress& address, pid_t worker);

}  // namespace drover::supervisor

#endif  // DROVER_SIDECAR_SUPERVISOR_LISTENER_OWNER_H_
