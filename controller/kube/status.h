// How the cluster API's answers become absl::Status, in one place, so every caller (and later
// the admin API, which maps these codes to gRPC) sees the same code for the same HTTP status:
//
//   HTTP                          absl::StatusCode
//   400, 422                      kInvalidArgument
//   401                           kUnauthenticated
//   403                           kPermissionDenied
//   404                           kNotFound
//   405                           kUnimplemented
//   409 reason AlreadyExists      kAlreadyExists
//   409 (a conflict), 412         kAborted            retry with a fresh read
//   410 Gone / reason Expired     kFailedPrecondition IsGone(): the resourceVersion or continue
//                                                     token is too old; relist. No other status
//                                                     maps to kFailedPrecondition.
//   429                           kResourceExhausted  RetryAfter() gives Retry-After, if sent
//   5xx                           kUnavailable        (504 too; 500 with Retry-After included)
//   other                         kUnknown
//
// Every such status carries the HTTP status as a payload (HttpStatusOf()), and its message
// names the request and the API's Status.message:
//   "GET /api/v1/namespaces/shop/pods/web-0: HTTP 404: pods \"web-0\" not found".
// A transport failure (refused, reset) is kUnavailable, a timeout kDeadlineExceeded, both
// without an HTTP payload.
//
//   absl::Status s = client->List(options).status();
//   if (IsGone(s)) Relist();
//   else if (std::optional<absl::Duration> wait = RetryAfter(s)) Sleep(*wait);
#ifndef DROVER_CONTROLLER_KUBE_STATUS_H_
#define DROVER_CONTROLLER_KUBE_STATUS_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace drover::kube {

// A metav1.Status as the API sends it in error bodies and in watch ERROR events.
struct ApiStatus {
  int code = 0;        // the HTTP status it stands for
  std::string reason;  // "Expired", "NotFound", "Conflict", "AlreadyExists", ...
  std::string message;
};

// Decodes a metav1.Status; an error when `json` is not one (no "kind":"Status" and no code).
absl::StatusOr<ApiStatus> ParseApiStatus(std::string_view json);

// The status for an HTTP answer. `request` ("GET /api/v1/pods") prefixes the message; `body`
// is decoded as a metav1.Status when it is one, else its first bytes go into the message.
// `retry_after` is the Retry-After header's delay, if any. 2xx maps to OkStatus().
absl::Status StatusFromHttp(int http_status, std::string_view request, std::string_view body,
                            std::optional<absl::Duration> retry_after = std::nullopt);

// The status a watch ERROR event's object stands for (its code mapped as above); an
// kInternal error when the object is not a metav1.Status.
absl::Status StatusFromWatchError(std::string_view object_json);

// True for an HTTP 410 / reason Expired: whatever resourceVersion was asked for is gone.
bool IsGone(const absl::Status& status);

// The delay the API asked for with Retry-After (429, or 5xx while it is overloaded).
std::optional<absl::Duration> RetryAfter(const absl::Status& status);

// The HTTP status a status was made from, if it came from an HTTP answer.
std::optional<int> HttpStatusOf(const absl::Status& status);

// Parses a Retry-After value in delta-seconds form ("3"); the HTTP-date form is not used by
// the API and yields nullopt.
std::optional<absl::Duration> ParseRetryAfter(std::string_view value);

}  // namespace drover::kube

#endif  // DROVER_CONTROLLER_KUBE_STATUS_H_
