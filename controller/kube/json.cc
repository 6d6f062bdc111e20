#include "controller/kube/json.h"

#include <exception>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace drover::kube::json {
namespace {

std::string_view TypeName(const web::json::value& v) {
  switch (v.type()) {
    case web::json::value::Number:
      return "a number";
    case web::json::value::Boolean:
      return "a boolean";
    case web::json::value::String:
      return "a string";
    case web::json::value::Object:
      return "an object";
    case web::json::value::Array:
      return "an array";
    case web::json::value::Null:
      return "null";
  }
  return "unknown";
}

absl::Status WrongType(std::string_view where, std::string_view name, std::string_view want,
                       const web::json::value& got) {
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(where), ".", AsAbsl(name), " is ",
                                                 AsAbsl(TypeName(got)), ", not ", AsAbsl(want)));
}

}  // namespace

absl::StatusOr<web::json::value> Parse(std::string_view text) {
  try {
    std::error_code error;
    web::json::value value = web::json::value::parse(std::string(text), error);
    if (error) return absl::InvalidArgumentError(absl::StrCat("bad JSON: ", error.message()));
    return value;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad JSON: ", e.what()));
  }
}

absl::StatusOr<std::string> Serialize(const web::json::value& value) {
  try {
    return value.serialize();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("cannot serialize JSON: ", e.what()));
  }
}

const web::json::value* Field(const web::json::value& object, std::string_view name) {
  if (!object.is_object()) return nullptr;
  const web::json::object& fields = object.as_object();
  // web::json::object::find takes a string_t; the names here are short literals.
  const auto it = fields.find(std::string(name));
  if (it == fields.end() || it->second.is_null()) return nullptr;
  return &it->second;
}

absl::Status GetString(const web::json::value& object, std::string_view name,
                       std::string_view where, std::string& out) {
  const web::json::value* field = Field(object, name);
  if (field == nullptr) return absl::OkStatus();
  if (!field->is_string()) return WrongType(where, name, "a string", *field);
  out = field->as_string();
  return absl::OkStatus();
}

absl::Status GetInt(const web::json::value& object, std::string_view name, std::string_view where,
                    int64_t& out) {
  const web::json::value* field = Field(object, name);
  if (field == nullptr) return absl::OkStatus();
  if (!field->is_number() || !field->as_number().is_int64()) {
    return WrongType(where, name, "an integer", *field);
  }
  out = field->as_number().to_int64();
  return absl::OkStatus();
}

absl::StatusOr<const web::json::value*> GetObject(const web::json::value& object,
                                                  std::string_view name, std::string_view where) {
  const web::json::value* field = Field(object, name);
  if (field != nullptr && !field->is_object()) return WrongType(where, name, "an object", *field);
  return field;
}

absl::StatusOr<const web::json::value*> GetArray(const web::json::value& object,
                                                 std::string_view name, std::string_view where) {
  const web::json::value* field = Field(object, name);
  if (field != nullptr && !field->is_array()) return WrongType(where, name, "an array", *field);
  return field;
}

}  // namespace drover::kube::json
