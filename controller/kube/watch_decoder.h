// Frames a watch response body into events. The API writes one JSON object per event,
// {"type":"ADDED","object":{...}}, each followed by a newline; the transport hands the body
// over in pieces of any size, so an event may be split across any number of pieces and one
// piece may hold several events. Framing is by JSON structure (braces outside strings), not
// by newline, so events without a newline between them decode too. Pure: no I/O.
//
//   WatchDecoder decoder;
//   while (read some bytes) {
//     absl::Status s = decoder.Feed(bytes);  // events before a bad one are still queued
//     while (std::optional<WatchEvent> event = decoder.Pop()) Handle(*event);
//     if (!s.ok()) return s;                 // undecodable: the stream is broken
//   }
//   if (absl::Status s = decoder.Finish(); !s.ok()) return s;  // ended inside an event
//
// An error is sticky: once Feed fails, later Feeds fail the same way and queue nothing.
#ifndef DROVER_CONTROLLER_KUBE_WATCH_DECODER_H_
#define DROVER_CONTROLLER_KUBE_WATCH_DECODER_H_

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controller/kube/client.h"

namespace drover::kube {

// "ADDED" -> kAdded, ...; nullopt for anything else.
std::optional<WatchEventType> ParseWatchEventType(std::string_view name);

// One event's JSON ({"type":..., "object":{...}}) to a WatchEvent.
absl::StatusOr<WatchEvent> DecodeWatchEvent(std::string_view json);

class WatchDecoder {
 public:
  // A pod is a few KiB; the API server's own limit on a request is 3 MiB. An event larger
  // than this is an error rather than an unbounded buffer.
  static constexpr size_t kDefaultMaxEventBytes = size_t{16} << 20;

  explicit WatchDecoder(size_t max_event_bytes = kDefaultMaxEventBytes)
      : max_event_bytes_(max_event_bytes) {}

  // Consumes `bytes`, queueing every event they complete.
  absl::Status Feed(std::string_view bytes);
  // The oldest queued event.
  std::optional<WatchEvent> Pop();
  // At the end of the body: an error if it ended inside an event (or after an error).
  absl::Status Finish() const;

  absl::Status status() const { return status_; }
  size_t queued() const { return events_.size(); }
  // Bytes of an event started but not yet complete.
  size_t partial_bytes() const { return buffer_.size(); }

 private:
  absl::Status Fail(absl::Status status);

  size_t max_event_bytes_;
  std::string buffer_;  // the current event's bytes so far; empty between events
  // Scanner state inside the current event.
  size_t depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
  std::deque<WatchEvent> events_;
  absl::Status status_;
};

}  // namespace drover::kube

#endif  // DROVER_CONTROLLER_KUBE_WATCH_DECODER_H_
