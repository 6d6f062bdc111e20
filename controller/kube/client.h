// The controller's view of the cluster API: list, watch, get, patch and put, over whatever
// transport stands behind it (cpprestsdk in production, http_client.h; scripted fakes in tests).
// Bodies go in and out as JSON text, so no transport's JSON type leaks into its users.
//
//   std::unique_ptr<KubeClient> client = ...;  // NewKubeClient(config), see http_client.h
//   absl::StatusOr<ListPage> page = client->List({.path = "/api/v1/namespaces/shop/pods",
//                                                .label_selector = "app.kubernetes.io/name=web"});
//   absl::StatusOr<std::unique_ptr<WatchStream>> watch = client->Watch(
//       {.path = "/api/v1/namespaces/shop/pods", .resource_version = page->resource_version,
//        .timeout = absl::Minutes(5)});
//   while (true) {
//     absl::StatusOr<WatchEvent> event = (*watch)->Next();
//     if (absl::IsOutOfRange(event.status())) break;  // timeoutSeconds reached: watch again
//     if (!event.ok()) return event.status();         // broken stream
//     ...
//   }
//
// Errors follow status.h: an HTTP status maps to one absl::StatusCode (404 NotFound, 410
// FailedPrecondition = IsGone(), 429 ResourceExhausted with RetryAfter(), ...), and the message
// carries the API's Status.message.
#ifndef DROVER_CONTROLLER_KUBE_CLIENT_H_
#define DROVER_CONTROLLER_KUBE_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace drover::kube {

struct ListOptions {
  std::string path;  // e.g. /api/v1/namespaces/shop/pods, or /api/v1/pods for all namespaces
  std::string label_selector;
  int64_t limit = 500;  // 0: no paging
  std::string continue_token;
  std::string resource_version;  // "": a consistent (quorum) read
};

struct ListPage {
  std::string resource_version;    // the list's metadata.resourceVersion
  std::string continue_token;      // "" on the last page
  std::vector<std::string> items;  // each item's JSON
};

struct WatchOptions {
  std::string path;
  std::string label_selector;
  std::string resource_version;
  bool allow_bookmarks = true;
  // Sent as timeoutSeconds: the server ends the stream cleanly then. Zero leaves it to the
  // server (its --min-request-timeout, 30 to 60 minutes).
  absl::Duration timeout;
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

// "ADDED", "MODIFIED", ... as on the wire.
std::string_view WatchEventTypeName(WatchEventType type);

struct WatchEvent {
  WatchEventType type;
  std::string object;  // the object's JSON (a metav1.Status for kError)
};

class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // Blocks until the next event; absl::OutOfRangeError at a clean end of stream (timeoutSeconds
  // reached); other errors for a broken stream. An ERROR event is returned as an event (the
  // reflector decides).
  virtual absl::StatusOr<WatchEvent> Next() = 0;
  // From another thread: Next() returns absl::CancelledError soon.
  virtual void Cancel() = 0;
};

class KubeClient {
 public:
  virtual ~KubeClient() = default;
  virtual absl::StatusOr<ListPage> List(const ListOptions& options) = 0;
  // An error answer to the watch request itself (410, 403, 429...) comes either from Watch()
  // or from the stream's first Next(), at the client's choice: the HTTP client returns at once
  // and waits for the response head in Next(), where Cancel() can end the wait.
  virtual absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const WatchOptions& options) = 0;
  // `path` may carry a query string. Returns the response body.
  virtual absl::StatusOr<std::string> Get(std::string_view path) = 0;
  virtual absl::StatusOr<std::string> Patch(std::string_view path, std::string_view body,
                                            std::string_view content_type) = 0;
  virtual absl::StatusOr<std::string> Put(std::string_view path, std::string_view body) = 0;
};

}  // namespace drover::kube

#endif  // DROVER_CONTROLLER_KUBE_CLIENT_H_
