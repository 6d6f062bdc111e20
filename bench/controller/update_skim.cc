#include "bench/controller/update_skim.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace drover::bench {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// Field numbers from membership.proto.
constexpr int kResponseUpdate = 1;
constexpr int kResponseCommand = 2;
constexpr int kUpdateVersion = 1;
constexpr int kUpdateNonce = 2;
constexpr int kUpdateFull = 3;
constexpr int kUpdateBaseVersion = 4;
constexpr int kUpdateMembers = 5;
constexpr int kUpdateRemoved = 6;
constexpr int kUpdateGroup = 7;

bool IsLengthDelimited(uint32_t tag) {
  return WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
}

// Skips a length-delimited field whose tag has been read.
bool SkipBytes(CodedInputStream& in) {
  uint32_t length = 0;
  return in.ReadVarint32(&length) && in.Skip(static_cast<int>(length));
}

absl::Status SkimUpdate(CodedInputStream& in, ResponseSummary& out) {
  while (true) {
    uint32_t tag = in.ReadTag();
    if (tag == 0)
      return in.ConsumedEntireMessage() ? absl::OkStatus() : absl::DataLossError("bad tag");
    int field = WireFormatLite::GetTagFieldNumber(tag);
    bool ok = true;
    if (field == kUpdateVersion && IsLengthDelimited(tag)) {
      ok = WireFormatLite::ReadString(&in, &out.version);
    } else if (field == kUpdateNonce && IsLengthDelimited(tag)) {
      ok = WireFormatLite::ReadString(&in, &out.nonce);
    } else if (field == kUpdateBaseVersion && IsLengthDelimited(tag)) {
      ok = WireFormatLite::ReadString(&in, &out.base_version);
    } else if (field == kUpdateGroup && IsLengthDelimited(tag)) {
      ok = WireFormatLite::ReadString(&in, &out.group);
    } else if (field == kUpdateFull &&
               WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_VARINT) {
      uint64_t value = 0;
      ok = in.ReadVarint64(&value);
      out.full = value != 0;
    } else if (field == kUpdateMembers && IsLengthDelimited(tag)) {
      ok = SkipBytes(in);
      ++out.members;
    } else if (field == kUpdateRemoved && IsLengthDelimited(tag)) {
      ok = SkipBytes(in);
      ++out.removed;
    } else {
      ok = WireFormatLite::SkipField(&in, tag);
    }
    if (!ok) return absl::DataLossError(absl::StrCat("bad Update field ", field));
  }
}

}  // namespace

absl::StatusOr<ResponseSummary> SkimSubscribeResponse(const grpc::ByteBuffer& wire) {
  // ProtoBufferReader takes a mutable buffer; a copy of a ByteBuffer shares its slices.
  grpc::ByteBuffer copy(wire);
  grpc::ProtoBufferReader reader(&copy);
  CodedInputStream in(&reader);
  ResponseSummary out;
  while (true) {
    uint32_t tag = in.ReadTag();
    if (tag == 0) {
      if (!in.ConsumedEntireMessage()) return absl::DataLossError("malformed SubscribeResponse");
      return out;
    }
    int field = WireFormatLite::GetTagFieldNumber(tag);
    if ((field == kResponseUpdate || field == kResponseCommand) && IsLengthDelimited(tag)) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return absl::DataLossError("truncated SubscribeResponse");
      CodedInputStream::Limit limit = in.PushLimit(static_cast<int>(length));
      if (field == kResponseUpdate) {
        // A oneof: the last one on the wire wins, as in a full parse.
        out = ResponseSummary{};
        out.kind = ResponseSummary::Kind::kUpdate;
        absl::Status status = SkimUpdate(in, out);
        if (!status.ok())
          return absl::DataLossError(absl::StrCat("malformed Update: ", status.message()));
      } else {
        out = ResponseSummary{};
        out.kind = ResponseSummary::Kind::kCommand;
        if (!in.Skip(static_cast<int>(length))) return absl::DataLossError("truncated Command");
      }
      in.PopLimit(limit);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return absl::DataLossError("malformed SubscribeResponse");
    }
  }
}

size_t WireBytes(size_t message_bytes) {
  constexpr size_t kGrpcPrefix = 5;
  constexpr size_t kFrameHeader = 9;
  constexpr size_t kMaxFrame = 16384;
  size_t payload = message_bytes + kGrpcPrefix;
  size_t frames = (payload + kMaxFrame - 1) / kMaxFrame;
  return payload + frames * kFrameHeader;
}

}  // namespace drover::bench
