#include "controller/kube/watch_decoder.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/strings.h"
#include "controller/kube/json.h"

namespace drover::kube {

std::string_view WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
    case WatchEventType::kError:
      return "ERROR";
  }
  return "UNKNOWN";
}

std::optional<WatchEventType> ParseWatchEventType(std::string_view name) {
  for (WatchEventType type :
       {WatchEventType::kAdded, WatchEventType::kModified, WatchEventType::kDeleted,
        WatchEventType::kBookmark, WatchEventType::kError}) {
    if (WatchEventTypeName(type) == name) return type;
  }
  return std::nullopt;
}

absl::StatusOr<WatchEvent> DecodeWatchEvent(std::string_view json) {
  absl::StatusOr<web::json::value> value = json::Parse(json);
  if (!value.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("undecodable watch event: ", value.status().message()));
  }
  if (!value->is_object()) {
    return absl::InvalidArgumentError("undecodable watch event: not a JSON object");
  }
  std::string type_name;
  if (absl::Status s = json::GetString(*value, "type", "event", type_name); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("undecodable watch event: ", s.message()));
  }
  std::optional<WatchEventType> type = ParseWatchEventType(type_name);
  if (!type.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("undecodable watch event: unknown type \"",
                     absl::CHexEscape(AsAbsl(std::string_view(type_name).substr(0, 64))), "\""));
  }
  absl::StatusOr<const web::json::value*> object = json::GetObject(*value, "object", "event");
  if (!object.ok() || *object == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("undecodable watch event: ", type_name, " without an object"));
  }
  absl::StatusOr<std::string> text = json::Serialize(**object);
  if (!text.ok()) return text.status();
  return WatchEvent{*type, *std::move(text)};
}

absl::Status WatchDecoder::Fail(absl::Status status) {
  status_ = std::move(status);
  buffer_.clear();
  buffer_.shrink_to_fit();
  return status_;
}

absl::Status WatchDecoder::Feed(std::string_view bytes) {
  if (!status_.ok()) return status_;
  size_t i = 0;
  while (i < bytes.size()) {
    if (depth_ == 0) {
      // Between events only whitespace may appear.
      const char c = bytes[i];
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
        ++i;
        continue;
      }
      if (c != '{') {
        return Fail(absl::InvalidArgumentError(
            absl::StrFormat("undecodable watch stream: byte 0x%02x where an event should start",
                            static_cast<unsigned char>(c))));
      }
      depth_ = 1;
      in_string_ = false;
      escaped_ = false;
      buffer_.push_back(c);
      ++i;
      continue;
    }
    // Inside an event: find where its outermost object closes. Brackets are counted alike;
    // mismatched ones are the JSON parser's to reject.
    const size_t start = i;
    bool complete = false;
    for (; i < bytes.size(); ++i) {
      const char c = bytes[i];
      if (in_string_) {
        if (escaped_) {
          escaped_ = false;
        } else if (c == '\\') {
          escaped_ = true;
        } else if (c == '"') {
          in_string_ = false;
        }
      } else if (c == '"') {
        in_string_ = true;
      } else if (c == '{' || c == '[') {
        ++depth_;
      } else if ((c == '}' || c == ']') && --depth_ == 0) {
        ++i;
        complete = true;
        break;
      }
    }
    if (buffer_.size() + (i - start) > max_event_bytes_) {
      return Fail(absl::ResourceExhaustedError(
          absl::StrCat("watch event larger than ", max_event_bytes_, " bytes")));
    }
    buffer_.append(bytes.data() + start, i - start);
    if (!complete) break;
    absl::StatusOr<WatchEvent> event = DecodeWatchEvent(buffer_);
    if (!event.ok()) return Fail(event.status());
    events_.push_back(*std::move(event));
    buffer_.clear();
  }
  return absl::OkStatus();
}

std::optional<WatchEvent> WatchDecoder::Pop() {
  if (events_.empty()) return std::nullopt;
  WatchEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

absl::Status WatchDecoder::Finish() const {
  if (!status_.ok()) return status_;
  if (depth_ != 0) {
    return absl::DataLossError(
        absl::StrCat("watch stream ended inside an event (", buffer_.size(), " bytes)"));
  }
  return absl::OkStatus();
}

}  // namespace drover::kube
