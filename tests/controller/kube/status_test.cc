#include "controller/kube/status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::kube {
namespace {

using ::testing::HasSubstr;

constexpr char kExpired[] =
    R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)json"
    R"json("message":"too old resource version: 10 (20)","reason":"Expired","code":410})json";

// Each HTTP status maps to exactly one code; the admin API relies on the table in status.h.
TEST(StatusTest, HttpStatusTable) {
  struct Case {
    int http;
    const char* reason;
    absl::StatusCode code;
  };
  for (const Case& c : {
           Case{400, "BadRequest", absl::StatusCode::kInvalidArgument},
           Case{422, "Invalid", absl::StatusCode::kInvalidArgument},
           Case{401, "Unauthorized", absl::StatusCode::kUnauthenticated},
           Case{403, "Forbidden", absl::StatusCode::kPermissionDenied},
           Case{404, "NotFound", absl::StatusCode::kNotFound},
           Case{405, "MethodNotAllowed", absl::StatusCode::kUnimplemented},
           Case{409, "Conflict", absl::StatusCode::kAborted},
           Case{409, "AlreadyExists", absl::StatusCode::kAlreadyExists},
           Case{410, "Expired", absl::StatusCode::kFailedPrecondition},
           Case{410, "Gone", absl::StatusCode::kFailedPrecondition},
           Case{412, "", absl::StatusCode::kAborted},
           Case{429, "TooManyRequests", absl::StatusCode::kResourceExhausted},
           Case{500, "InternalError", absl::StatusCode::kUnavailable},
           Case{503, "ServiceUnavailable", absl::StatusCode::kUnavailable},
           Case{504, "Timeout", absl::StatusCode::kUnavailable},
           Case{418, "", absl::StatusCode::kUnknown},
       }) {
    const std::string body = std::string(R"({"kind":"Status","code":)") + std::to_string(c.http) +
                             R"(,"reason":")" + c.reason + R"(","message":"m"})";
    const absl::Status s = StatusFromHttp(c.http, "GET /x", body);
    EXPECT_EQ(s.code(), c.code) << c.http << " " << c.reason;
    EXPECT_EQ(HttpStatusOf(s), c.http);
    EXPECT_EQ(IsGone(s), c.http == 410) << c.http;
  }
  EXPECT_TRUE(StatusFromHttp(200, "GET /x", "{}").ok());
  EXPECT_TRUE(StatusFromHttp(201, "POST /x", "{}").ok());
}

TEST(StatusTest, MessageCarriesRequestAndApiMessage) {
  const absl::Status s = StatusFromHttp(410, "GET /api/v1/pods", kExpired);
  EXPECT_TRUE(IsGone(s));
  EXPECT_EQ(s.message(), "GET /api/v1/pods: HTTP 410: too old resource version: 10 (20)");
}

// A body that is not a Status (a proxy's HTML page) goes into the message, trimmed.
TEST(StatusTest, NonStatusBodyIsQuoted) {
  const absl::Status s = StatusFromHttp(502, "GET /api/v1/pods",
                                        "  <html>bad gateway</html>\n" + std::string(500, 'x'));
  EXPECT_TRUE(absl::IsUnavailable(s));
  EXPECT_THAT(s.message(), HasSubstr("HTTP 502: <html>bad gateway</html>"));
  EXPECT_LT(s.message().size(), 320u);
}

TEST(StatusTest, RetryAfter) {
  const absl::Status s = StatusFromHttp(429, "LIST /api/v1/pods", "", absl::Seconds(7));
  EXPECT_TRUE(absl::IsResourceExhausted(s));
  EXPECT_EQ(RetryAfter(s), absl::Seconds(7));
  EXPECT_EQ(RetryAfter(StatusFromHttp(429, "x", "")), std::nullopt);
  EXPECT_EQ(RetryAfter(absl::UnavailableError("x")), std::nullopt);
  EXPECT_EQ(ParseRetryAfter(" 3 "), absl::Seconds(3));
  EXPECT_EQ(ParseRetryAfter("0"), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("Fri, 31 Dec 1999 23:59:59 GMT"), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-1"), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("99999999"), absl::Hours(24));
}

// A watch ERROR event's Status maps like the HTTP status it carries.
TEST(StatusTest, WatchErrorEvent) {
  EXPECT_TRUE(IsGone(StatusFromWatchError(kExpired)));
  // Old servers: reason Gone, or reason Expired with another code.
  EXPECT_TRUE(IsGone(StatusFromWatchError(R"({"kind":"Status","reason":"Gone","code":410})")));
  EXPECT_TRUE(IsGone(StatusFromWatchError(R"({"kind":"Status","reason":"Expired"})")));
  const absl::Status internal =
      StatusFromWatchError(R"({"kind":"Status","code":500,"message":"etcd is sad"})");
  EXPECT_TRUE(absl::IsUnavailable(internal));
  EXPECT_FALSE(IsGone(internal));
  EXPECT_THAT(internal.message(), HasSubstr("etcd is sad"));
  EXPECT_TRUE(absl::IsInternal(StatusFromWatchError(R"({"kind":"Pod"})")));
  EXPECT_TRUE(absl::IsInternal(StatusFromWatchError("not json")));
}

// Only a 410 is "gone", whatever else uses FailedPrecondition.
TEST(StatusTest, IsGoneNeedsTheHttpStatus) {
  EXPECT_FALSE(IsGone(absl::FailedPreconditionError("something else")));
  EXPECT_FALSE(IsGone(absl::OkStatus()));
}

}  // namespace
}  // namespace drover::kube
