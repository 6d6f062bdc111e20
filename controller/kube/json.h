// Internal to controller/kube: cpprestsdk's JSON (web::json) with its exceptions contained, and
// typed field access that tells "absent or null" (the API omits empty fields) from "present
// with the wrong type" (not the object we expect).
//
//   absl::StatusOr<web::json::value> v = json::Parse(text);
//   std::string name;
//   if (absl::Status s = json::GetString(*meta, "name", "metadata", name); !s.ok()) return s;
#ifndef DROVER_CONTROLLER_KUBE_JSON_H_
#define DROVER_CONTROLLER_KUBE_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cpprest/json.h"

namespace drover::kube::json {

absl::StatusOr<web::json::value> Parse(std::string_view text);
absl::StatusOr<std::string> Serialize(const web::json::value& value);

// The field `name` of `object`, or nullptr when `object` is not an object, or the field is
// absent or null.
const web::json::value* Field(const web::json::value& object, std::string_view name);

// `out` = the string field, left unchanged when absent or null; InvalidArgument naming
// `where.name` when present with another type.
absl::Status GetString(const web::json::value& object, std::string_view name,
                       std::string_view where, std::string& out);
absl::Status GetInt(const web::json::value& object, std::string_view name, std::string_view where,
                    int64_t& out);

// Checks that a present field is an object (or an array); nullptr when absent or null.
absl::StatusOr<const web::json::value*> GetObject(const web::json::value& object,
                                                  std::string_view name, std::string_view where);
absl::StatusOr<const web::json::value*> GetArray(const web::json::value& object,
                                                 std::string_view name, std::string_view where);

}  // namespace drover::kube::json

#endif  // DROVER_CONTROLLER_KUBE_JSON_H_
