// Reads what a simulated sidecar needs out of a serialized SubscribeResponse (versions, nonce,
// full or delta, how many members) without building the message: at 10,000 sidecars each
// receiving a 10,000-member snapshot, parsing every Member would cost the load generator more
// CPU than the controller spends sending them, and the swarm would measure itself.
//
//   grpc::ByteBuffer wire = ...;  // one message as read off the stream
//   absl::StatusOr<drover::bench::ResponseSummary> r = drover::bench::SkimSubscribeResponse(wire);
//   if (r.ok() && r->kind == ResponseSummary::Kind::kUpdate && !r->full) { ... r->base_version ...
//   }
#ifndef DROVER_BENCH_CONTROLLER_UPDATE_SKIM_H_
#define DROVER_BENCH_CONTROLLER_UPDATE_SKIM_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/support/byte_buffer.h"

namespace drover::bench {

// The fields of drover.v1.SubscribeResponse (proto/drover/v1/membership.proto) the swarm uses.
struct ResponseSummary {
  enum class Kind : uint8_t { kNone, kUpdate, kCommand };
  Kind kind = Kind::kNone;
  // Update fields; empty/zero for a Command.
  std::string version;
  std::string nonce;
  bool full = false;
  std::string base_version;
  std::string group;
  uint32_t members = 0;  // how many Member entries (not parsed, only counted)
  uint32_t removed = 0;
};

// Skims one serialized SubscribeResponse; an error when the bytes are not a well-formed
// message. Unknown fields are skipped, as protobuf would.
absl::StatusOr<ResponseSummary> SkimSubscribeResponse(const grpc::ByteBuffer& wire);

// Bytes one message of `message_bytes` takes on an HTTP/2 stream: the gRPC length prefix
// (5 B) and one DATA frame header (9 B) per 16 KiB frame (the default SETTINGS_MAX_FRAME_SIZE).
// TCP/IP headers and HTTP/2 control frames (WINDOW_UPDATE, PING) are not counted.
size_t WireBytes(size_t message_bytes);

}  // namespace drover::bench

#endif  // DROVER_BENCH_CONTROLLER_UPDATE_SKIM_H_
