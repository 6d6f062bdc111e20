// The one slow test: a watch that stays silent longer than cpprestsdk's default 30 s request
// timeout (and than the client's own request_timeout) must live until its own timeoutSeconds.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/strings.h"
#include "controller/kube/http_client.h"
#include "gtest/gtest.h"
#include "tests/controller/kube/fake_api_server.h"

namespace drover::kube {
namespace {

using fake::Chunk;
using fake::ChunkedHead;
using fake::FakeApiServer;
using fake::LastChunk;

constexpr absl::Duration kSilence = absl::Seconds(40);

std::string Event(std::string_view name) {
  return absl::StrCat(R"({"type":"ADDED","object":{"metadata":{"namespace":"shop","name":")",
                      AsAbsl(name), R"(","resourceVersion":"1"}}})", "\n");
}

TEST(HttpClientLongTest, SilentWatchSurvives40Seconds) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(ChunkedHead() + Chunk(Event("before")));
    if (!c.Sleep(kSilence)) return;
    c.Write(Chunk(Event("after")) + LastChunk());
  });
  KubeClientConfig config;
  config.server = server.url();
  ASSERT_EQ(config.request_timeout, absl::Seconds(30));  // the default, shorter than the silence
  absl::StatusOr<std::unique_ptr<KubeClient>> client = NewKubeClient(config);
  ASSERT_TRUE(client.ok()) << client.status();
  WatchOptions options;
  options.path = "/api/v1/namespaces/shop/pods";
  options.timeout = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = (*client)->Watch(options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<WatchEvent> before = (*stream)->Next();
  ASSERT_TRUE(before.ok()) << before.status();
  const absl::Time start = absl::Now();
  absl::StatusOr<WatchEvent> after = (*stream)->Next();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_GE(absl::Now() - start, kSilence - absl::Seconds(1));
  EXPECT_NE(after->object.find("\"after\""), std::string::npos);
  EXPECT_TRUE(absl::IsOutOfRange((*stream)->Next().status()));
}

}  // namespace
}  // namespace drover::kube
