// Makes a gRPC channel's TCP connections leave from a chosen local IPv4 address, so that each
// simulated sidecar connects from its pod's IP as a real one does: drover-controller checks
// (--verify-peer-ip, on by default) that a Hello names a pod whose IP is the stream's source.
//
//   grpc::ChannelArguments args;
//   args.SetSocketMutator(NewSourceAddressMutator("127.0.0.7"));   // args own it
//   auto channel = grpc::CreateCustomChannel("ipv4:127.0.0.1:7000", creds, args);
//
// gRPC 1.51 has no public setting for a client's source address; its socket mutator, which
// runs on every new socket before connect(), can bind() one. The mutator's struct is internal
// to gRPC core (src/core/lib/iomgr/socket_mutator.h): source_address.cc declares the layout,
// unchanged from gRPC 1.30 to today, and refuses to compile against other major versions.
#ifndef DROVER_BENCH_CONTROLLER_SOURCE_ADDRESS_H_
#define DROVER_BENCH_CONTROLLER_SOURCE_ADDRESS_H_

#include <string>

#include "grpc/grpc.h"

namespace drover::bench {

// A mutator binding client sockets to `ipv4` (port chosen by the kernel at connect time), or
// nullptr when `ipv4` is not an IPv4 address. The caller owns one reference, which
// grpc::ChannelArguments::SetSocketMutator takes over.
grpc_socket_mutator* NewSourceAddressMutator(const std::string& ipv4);

}  // namespace drover::bench

#endif  // DROVER_BENCH_CONTROLLER_SOURCE_ADDRESS_H_
