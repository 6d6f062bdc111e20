#include "controller/kube/status.h"

#include <charconv>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "controller/kube/json.h"

namespace drover::kube {
namespace {

// Payload keys; the values are decimal text.
constexpr char kHttpStatusPayload[] = "drover.io/kube/http-status";
constexpr char kRetryAfterPayload[] = "drover.io/kube/retry-after-ms";

// What the API sends when it is short of memory is not worth more than a line in a message.
constexpr size_t kMaxBodyInMessage = 256;

absl::StatusCode CodeFor(int http_status, std::string_view reason) {
  switch (http_status) {
    case 400:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kFailedPrecondition;
    case 412:
      return absl::StatusCode::kAborted;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    default:
      break;
  }
  if (http_status >= 500 && http_status <= 599) return absl::StatusCode::kUnavailable;
  return absl::StatusCode::kUnknown;
}

absl::Status MakeStatus(int http_status, std::string_view reason, const std::string& message,
                        std::optional<absl::Duration> retry_after) {
  // The API sends 410 with reason Expired; an ERROR event may carry reason Expired with code
  // 410 too, or (older servers) reason Gone. Either means the same: relist.
  if (reason == "Expired" || reason == "Gone") http_status = 410;
  absl::Status status(CodeFor(http_status, reason), message);
  status.SetPayload(kHttpStatusPayload, absl::Cord(absl::StrCat(http_status)));
  if (retry_after.has_value()) {
    status.SetPayload(kRetryAfterPayload,
                      absl::Cord(absl::StrCat(absl::ToInt64Milliseconds(*retry_after))));
  }
  return status;
}

std::optional<int64_t> IntPayload(const absl::Status& status, absl::string_view key) {
  absl::optional<absl::Cord> payload = status.GetPayload(key);
  if (!payload.has_value()) return std::nullopt;
  int64_t value = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &value)) return std::nullopt;
  return value;
}

}  // namespace

absl::StatusOr<ApiStatus> ParseApiStatus(std::string_view json) {
  absl::StatusOr<web::json::value> value = json::Parse(json);
  if (!value.ok()) return value.status();
  if (!value->is_object()) return absl::InvalidArgumentError("a Status must be a JSON object");
  std::string kind;
  int64_t code = 0;
  ApiStatus status;
  if (absl::Status s = json::GetString(*value, "kind", "Status", kind); !s.ok()) return s;
  if (absl::Status s = json::GetInt(*value, "code", "Status", code); !s.ok()) return s;
  if (absl::Status s = json::GetString(*value, "reason", "Status", status.reason); !s.ok()) {
    return s;
  }
  if (absl::Status s = json::GetString(*value, "message", "Status", status.message); !s.ok()) {
    return s;
  }
  if (kind != "Status" && code == 0) return absl::InvalidArgumentError("not a Status object");
  if (code < 0 || code > 999) {
    return absl::InvalidArgumentError(absl::StrCat("Status.code ", code, " is out of range"));
  }
  status.code = static_cast<int>(code);
  return status;
}

absl::Status StatusFromHttp(int http_status, std::string_view request, std::string_view body,
                            std::optional<absl::Duration> retry_after) {
  if (http_status >= 200 && http_status <= 299) return absl::OkStatus();
  std::string message = absl::StrCat(AsAbsl(request), ": HTTP ", http_status);
  std::string reason;
  if (absl::StatusOr<ApiStatus> api = ParseApiStatus(body); api.ok()) {
    reason = api->reason;
    if (!api->message.empty()) {
      absl::StrAppend(&message, ": ", api->message);
    } else if (!api->reason.empty()) {
      absl::StrAppend(&message, ": ", api->reason);
    }
  } else {
    const std::string_view trimmed = AsStd(absl::StripAsciiWhitespace(AsAbsl(body)));
    if (!trimmed.empty()) {
      absl::StrAppend(&message, ": ", AsAbsl(trimmed.substr(0, kMaxBodyInMessage)),
                      trimmed.size() > kMaxBodyInMessage ? "..." : "");
    }
  }
  return MakeStatus(http_status, reason, message, retry_after);
}

absl::Status StatusFromWatchError(std::string_view object_json) {
  absl::StatusOr<ApiStatus> api = ParseApiStatus(object_json);
  if (!api.ok()) {
    return absl::InternalError(
        absl::StrCat("watch ERROR event without a Status: ", api.status().message()));
  }
  std::string message = absl::StrCat("watch ERROR event: HTTP ", api->code);
  if (!api->reason.empty()) absl::StrAppend(&message, " ", api->reason);
  if (!api->message.empty()) absl::StrAppend(&message, ": ", api->message);
  return MakeStatus(api->code, api->reason, message, std::nullopt);
}

bool IsGone(const absl::Status& status) {
  return status.code() == absl::StatusCode::kFailedPrecondition &&
         HttpStatusOf(status) == std::optional<int>(410);
}

std::optional<absl::Duration> RetryAfter(const absl::Status& status) {
  std::optional<int64_t> ms = IntPayload(status, kRetryAfterPayload);
  if (!ms.has_value()) return std::nullopt;
  return absl::Milliseconds(*ms);
}

std::optional<int> HttpStatusOf(const absl::Status& status) {
  std::optional<int64_t> code = IntPayload(status, kHttpStatusPayload);
  if (!code.has_value()) return std::nullopt;
  return static_cast<int>(*code);
}

std::optional<absl::Duration> ParseRetryAfter(std::string_view value) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(AsAbsl(value));
  if (trimmed.empty()) return std::nullopt;
  int64_t seconds = 0;
  const auto [end, error] =
      std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), seconds);
  if (error != std::errc() || end != trimmed.data() + trimmed.size() || seconds < 0) {
    return std::nullopt;
  }
  // A day is more than any API server asks for; a larger value is a mistake, not a plan.
  constexpr int64_t kMaxSeconds = 24 * 3600;
  return absl::Seconds(seconds > kMaxSeconds ? kMaxSeconds : seconds);
}

}  // namespace drover::kube
