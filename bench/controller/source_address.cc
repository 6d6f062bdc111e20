#include "bench/controller/source_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "grpc/support/sync.h"
#include "grpcpp/version_info.h"

static_assert(GRPC_CPP_VERSION_MAJOR == 1 && GRPC_CPP_VERSION_MINOR >= 30,
              "source_address.cc declares gRPC core's socket mutator as gRPC 1.30+ has it");

// gRPC core's declarations (src/core/lib/iomgr/socket_mutator.h), not installed with the
// library; the names and layout must match it exactly (the functions have C++ linkage).
// NOLINTBEGIN(readability-identifier-naming,modernize-use-using): gRPC's names and C typedefs
typedef enum {
  GRPC_FD_CLIENT_CONNECTION_USAGE,
  GRPC_FD_SERVER_LISTENER_USAGE,
  GRPC_FD_SERVER_CONNECTION_USAGE,
} grpc_fd_usage;

typedef struct {
  int fd;
  grpc_fd_usage usage;
} grpc_mutate_socket_info;

struct grpc_socket_mutator_vtable {
  bool (*mutate_fd)(int fd, grpc_socket_mutator* mutator);
  int (*compare)(grpc_socket_mutator* a, grpc_socket_mutator* b);
  void (*destroy)(grpc_socket_mutator* mutator);
  bool (*mutate_fd_2)(const grpc_mutate_socket_info* info, grpc_socket_mutator* mutator);
};

struct grpc_socket_mutator {
  const grpc_socket_mutator_vtable* vtable;
  gpr_refcount refcount;
};

void grpc_socket_mutator_init(grpc_socket_mutator* mutator,
                              const grpc_socket_mutator_vtable* vtable);
// NOLINTEND(readability-identifier-naming,modernize-use-using)

namespace drover::bench {
namespace {

// The base comes first, so gRPC's grpc_socket_mutator* is also a SourceMutator*.
struct SourceMutator {
  grpc_socket_mutator base;
  in_addr address;
};

SourceMutator* Self(grpc_socket_mutator* mutator) {
  return reinterpret_cast<SourceMutator*>(mutator);
}

bool Bind(int fd, grpc_socket_mutator* mutator) {
  // Without this, bind() would reserve a local port for every destination; with it the kernel
  // picks the port at connect(), per (source, destination) pair.
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  int domain = AF_INET;
  socklen_t len = sizeof domain;
  getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
  if (domain == AF_INET6) {
    // gRPC connects to IPv4 addresses from dual-stack sockets, as ::ffff:a.b.c.d.
    sockaddr_in6 local{};
    local.sin6_family = AF_INET6;
    local.sin6_addr.s6_addr[10] = 0xff;
    local.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&local.sin6_addr.s6_addr[12], &Self(mutator)->address, sizeof(in_addr));
    return bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0;
  }
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr = Self(mutator)->address;
  return bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0;
}

bool MutateFd2(const grpc_mutate_socket_info* info, grpc_socket_mutator* mutator) {
  if (info->usage != GRPC_FD_CLIENT_CONNECTION_USAGE) return true;
  return Bind(info->fd, mutator);
}

int Compare(grpc_socket_mutator* a, grpc_socket_mutator* b) {
  return std::memcmp(&Self(a)->address, &Self(b)->address, sizeof(in_addr));
}

void Destroy(grpc_socket_mutator* mutator) { delete Self(mutator); }

constexpr grpc_socket_mutator_vtable kVtable = {
    .mutate_fd = Bind, .compare = Compare, .destroy = Destroy, .mutate_fd_2 = MutateFd2};

}  // namespace

grpc_socket_mutator* NewSourceAddressMutator(const std::string& ipv4) {
  in_addr address{};
  if (inet_pton(AF_INET, ipv4.c_str(), &address) != 1) return nullptr;
  auto* mutator = new SourceMutator{.base = {}, .address = address};
  grpc_socket_mutator_init(&mutator->base, &kVtable);
  return &mutator->base;
}

}  // namespace drover::bench
