// JSON string quoting for the log lines the sidecar writes (worker output relayed as JSON, the
// access log): one place that knows which characters need escaping.
//
//   std::string line = "{\"msg\":";
//   drover::AppendJsonString(line, text);  // "text", quoted and escaped
#ifndef DROVER_COMMON_JSON_H_
#define DROVER_COMMON_JSON_H_

#include <string>
#include <string_view>

namespace drover {

// Appends `s` as a JSON string: quotes, backslashes and control characters escaped (\n, \r, \t
// by name, the others as \u00XX); other bytes, UTF-8 included, pass through.
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace drover

#endif  // DROVER_COMMON_JSON_H_
