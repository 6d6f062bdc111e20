// Fuzz target for controller/kube's watch decoder and the parsers behind it: the framing of a
// watch body must not depend on how the bytes were split, every event it yields must be a
// decodable object, and no input may crash the pod, bookmark or Status parsers.
// Built with libFuzzer under clang, or with standalone_driver.cc elsewhere.
//
//   kube_watch_fuzz -max_total_time=60 corpus_dir        # libFuzzer
//   kube_watch_fuzz --seconds=10 --seed=1 corpus_dir     # standalone driver
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "controller/kube/pod.h"
#include "controller/kube/status.h"
#include "controller/kube/watch_decoder.h"

namespace {

using drover::kube::WatchDecoder;
using drover::kube::WatchEvent;
using drover::kube::WatchEventType;

// Traps rather than aborts: both libFuzzer and the standalone driver report the input.
#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

struct Outcome {
  std::vector<WatchEvent> events;
  absl::Status status;
  absl::Status finish;
};

void Drain(WatchDecoder& decoder, Outcome& out) {
  while (std::optional<WatchEvent> event = decoder.Pop()) out.events.push_back(*std::move(event));
}

// Feeds `data` in pieces ending at each of `cuts` (ascending), then the rest.
Outcome Decode(std::string_view data, const std::vector<size_t>& cuts, size_t limit) {
  WatchDecoder decoder(limit);
  Outcome out;
  size_t at = 0;
  for (size_t cut : cuts) {
    if (cut < at || cut > data.size()) continue;
    const absl::Status s = decoder.Feed(data.substr(at, cut - at));
    Drain(decoder, out);
    at = cut;
    if (!s.ok()) break;
  }
  if (decoder.status().ok()) {
    (void)decoder.Feed(data.substr(at));
    Drain(decoder, out);
  }
  // After an error nothing more is queued, whatever arrives.
  if (!decoder.status().ok()) {
    FUZZ_CHECK(decoder.Feed("{\"type\":\"ADDED\",\"object\":{}}\n") == decoder.status());
    FUZZ_CHECK(decoder.queued() == 0);
  }
  out.status = decoder.status();
  out.finish = decoder.Finish();
  FUZZ_CHECK(decoder.partial_bytes() <= limit);
  return out;
}

bool Same(const Outcome& a, const Outcome& b) {
  if (a.status.code() != b.status.code() || a.finish.code() != b.finish.code() ||
      a.events.size() != b.events.size()) {
    return false;
  }
  for (size_t i = 0; i < a.events.size(); ++i) {
    if (a.events[i].type != b.events[i].type || a.events[i].object != b.events[i].object) {
      return false;
    }
  }
  return true;
}

// What the reflector does with each event must never crash, and its answers must be sane.
void CheckEvent(const WatchEvent& event) {
  FUZZ_CHECK(!event.object.empty() && event.object.front() == '{');
  // An event's object re-wrapped is the same event. The object is cpprestsdk's serialization,
  // which is not a fixed point after one pass (-0e-2 comes out as -0, which reads back as the
  // integer 0): so re-wrapping once may change the text, but not the pod read from it, and
  // re-wrapping again changes nothing.
  const auto rewrap = [&event](std::string_view object) {
    return drover::kube::DecodeWatchEvent(
        absl::StrCat("{\"type\":\"", drover::AsAbsl(drover::kube::WatchEventTypeName(event.type)),
                     "\",\"object\":", drover::AsAbsl(object), "}"));
  };
  absl::StatusOr<WatchEvent> decoded = rewrap(event.object);
  FUZZ_CHECK(decoded.ok() && decoded->type == event.type);
  absl::StatusOr<WatchEvent> settled = rewrap(decoded->object);
  FUZZ_CHECK(settled.ok() && settled->object == decoded->object);

  absl::StatusOr<drover::kube::Pod> pod = drover::kube::ParsePod(event.object);
  absl::StatusOr<drover::kube::Pod> pod_again = drover::kube::ParsePod(decoded->object);
  FUZZ_CHECK(pod.ok() == pod_again.ok());
  if (pod.ok()) FUZZ_CHECK(*pod == *pod_again);
  if (pod.ok()) FUZZ_CHECK(!pod->name.empty() && pod->Key().size() > pod->name.size());
  absl::StatusOr<std::string> rv = drover::kube::ParseResourceVersion(event.object);
  if (rv.ok()) FUZZ_CHECK(!rv->empty());
  if (event.type == WatchEventType::kError) {
    const absl::Status s = drover::kube::StatusFromWatchError(event.object);
    FUZZ_CHECK(!s.ok());
    if (drover::kube::IsGone(s)) FUZZ_CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  const size_t split = size == 0 ? 0 : (bytes[size - 1] * 131u + size / 2) % (size + 1);
  const size_t split2 = size == 0 ? 0 : (bytes[0] * 197u + split) % (size + 1);

  for (size_t limit : {WatchDecoder::kDefaultMaxEventBytes, size_t{64}}) {
    const Outcome whole = Decode(data, {}, limit);
    for (const WatchEvent& event : whole.events) CheckEvent(event);
    FUZZ_CHECK(whole.status.ok() || whole.finish == whole.status);

    // However the body is split, the same events and the same verdict.
    FUZZ_CHECK(Same(whole, Decode(data, {split}, limit)));
    FUZZ_CHECK(
        Same(whole, Decode(data, {std::min(split, split2), std::max(split, split2)}, limit)));
    if (size <= 2048) {
      std::vector<size_t> every;
      for (size_t i = 1; i < size; ++i) every.push_back(i);
      FUZZ_CHECK(Same(whole, Decode(data, every, limit)));
    }
  }

  // The raw input straight into the object parsers (a list item, an error body).
  (void)drover::kube::ParsePod(data);
  (void)drover::kube::ParseResourceVersion(data);
  (void)drover::kube::ParseApiStatus(data);
  const absl::Status http = drover::kube::StatusFromHttp(410, "GET /x", data);
  FUZZ_CHECK(drover::kube::IsGone(http));
  (void)drover::kube::ParseRetryAfter(data);
  return 0;
}
