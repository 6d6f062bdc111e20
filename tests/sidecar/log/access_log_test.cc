#include "sidecar/log/access_log.h"

#include <string>

#include "gtest/gtest.h"

namespace drover::log {
namespace {

// The two access log formats, field by field; a quote in the target is escaped in both.
TEST(AccessLogFormatTest, TextAndJson) {
  AccessLogEntry e;
  e.unix_ms = 1764603000123;
  e.client = "10.0.0.9";
  e.method = "GET";
  e.path = "/a\"b";
  e.status = 200;
  e.bytes_in = 87;
  e.bytes_out = 163;
  e.member = "web-0";
  e.slot = 1;
  e.sticky = "hit";
  e.connect_us = 0;
  e.response_us = 412;
  e.total_us = 1455;
  std::string text;
  FormatAccessLogLine(AccessLogFormat::kText, e, text);
  EXPECT_EQ(text,
            "2025-12-01T15:30:00.123Z 10.0.0.9 \"GET /a%22b\" 200 87 163 web-0/1 hit Tw=- Tc=0.000 "
            "Tr=0.412 Tt=1.455\n");
  std::string json;
  FormatAccessLogLine(AccessLogFormat::kJson, e, json);
  EXPECT_EQ(json,
            "{\"time\":\"2025-12-01T15:30:00.123Z\",\"client\":\"10.0.0.9\",\"method\":\"GET\","
            "\"path\":\"/a\\\"b\",\"status\":200,\"bytes_in\":87,\"bytes_out\":163,\"member\":"
            "\"web-0\",\"slot\":1,\"sticky\":\"hit\",\"queue_ms\":null,\"connect_ms\":0.000,"
            "\"response_ms\":0.412,\"total_ms\":1.455}\n");
}

}  // namespace
}  // namespace drover::log
