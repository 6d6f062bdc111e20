#include "controller/kube/http_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/strings.h"
#include "controller/kube/pod.h"
#include "controller/kube/pod_store.h"
#include "controller/kube/reflector.h"
#include "controller/kube/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/controller/kube/fake_api_server.h"

namespace drover::kube {
namespace {

using fake::Chunk;
using fake::ChunkedHead;
using fake::FakeApiServer;
using fake::HttpResponse;
using fake::LastChunk;
using fake::StatusBody;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(5);
constexpr char kPods[] = "/api/v1/namespaces/shop/pods";

std::string PodJson(std::string_view name, std::string_view rv) {
  return absl::StrCat(R"({"metadata":{"namespace":"shop","name":")", AsAbsl(name),
                      R"(","resourceVersion":")", AsAbsl(rv),
                      R"("},"status":{"phase":"Running","podIP":"10.0.0.9"}})");
}
std::string EventJson(std::string_view type, std::string_view object) {
  return absl::StrCat(R"({"type":")", AsAbsl(type), R"(","object":)", AsAbsl(object), "}\n");
}

KubeClientConfig ConfigFor(const FakeApiServer& server) {
  KubeClientConfig config;
  config.server = server.url();
  config.source = "test";
  return config;
}

std::unique_ptr<KubeClient> MustClient(const KubeClientConfig& config,
                                       KubeMetrics* metrics = nullptr) {
  absl::StatusOr<std::unique_ptr<KubeClient>> client = NewKubeClient(config, metrics);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

double MetricValue(prometheus::Registry& registry, std::string_view name,
                   const std::map<std::string, std::string>& labels) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have != labels) continue;
      return family.type == prometheus::MetricType::Histogram
                 ? static_cast<double>(metric.histogram.sample_count)
                 : metric.counter.value;
    }
  }
  return -1;
}

// A list sends its options as query parameters and returns each item's JSON.
TEST(HttpClientTest, List) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(HttpResponse(
        200, absl::StrCat(R"({"kind":"PodList","apiVersion":"v1",)",
                          R"("metadata":{"resourceVersion":"77","continue":"c2"},)", R"("items":[)",
                          PodJson("a", "70"), ",", PodJson("b", "71"), "]}")));
  });
  KubeClientConfig config = ConfigFor(server);
  config.bearer_token = "fixed-token";
  prometheus::Registry registry;
  KubeMetrics metrics(registry);
  std::unique_ptr<KubeClient> client = MustClient(config, &metrics);

  ListOptions options;
  options.path = kPods;
  options.label_selector = "app.kubernetes.io/name=web,tier in (a,b)";
  options.limit = 2;
  options.continue_token = "abc/=+";
  absl::StatusOr<ListPage> page = client->List(options);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->resource_version, "77");
  EXPECT_EQ(page->continue_token, "c2");
  ASSERT_EQ(page->items.size(), 2u);
  absl::StatusOr<Pod> b = ParsePod(page->items[1]);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->Key(), "shop/b");

  const FakeApiServer::Request request = server.requests().at(0);
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.path, kPods);
  EXPECT_EQ(request.Param("labelSelector"), "app.kubernetes.io/name=web,tier in (a,b)");
  EXPECT_EQ(request.Param("limit"), "2");
  EXPECT_EQ(request.Param("continue"), "abc/=+");
  EXPECT_EQ(request.Param("resourceVersion"), std::nullopt);
  EXPECT_EQ(request.Header("Authorization"), "Bearer fixed-token");
  EXPECT_EQ(request.Header("Accept"), "application/json");
  EXPECT_EQ(MetricValue(registry, "drover_controller_kube_requests_total",
                        {{"verb", "list"}, {"code", "200"}}),
            1);
  EXPECT_EQ(MetricValue(registry, "drover_controller_kube_request_seconds", {{"verb", "list"}}), 1);
}

// A 410 (an expired continue token) is IsGone, with the API's message.
TEST(HttpClientTest, GoneIsIsGone) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(HttpResponse(410,
                         StatusBody(410, "Expired", "The provided continue parameter is too old")));
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  ListOptions options;
  options.path = kPods;
  options.continue_token = "old";
  const absl::Status list = client->List(options).status();
  EXPECT_TRUE(IsGone(list)) << list;
  EXPECT_THAT(list.message(), HasSubstr("continue parameter is too old"));
  EXPECT_THAT(list.message(), HasSubstr(absl::StrCat("GET ", kPods)));

  // A watch's answer comes with its first Next(), and stays.
  WatchOptions watch;
  watch.path = kPods;
  watch.resource_version = "1";
  watch.timeout = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = client->Watch(watch);
  ASSERT_TRUE(stream.ok()) << stream.status();
  const absl::Status w = (*stream)->Next().status();
  EXPECT_TRUE(IsGone(w)) << w;
  EXPECT_THAT(w.message(), HasSubstr(absl::StrCat("WATCH ", kPods)));
  EXPECT_TRUE(IsGone((*stream)->Next().status()));
}

// Cancel() also ends the wait for a response head that does not come (a server queueing the
// request, a proxy holding headers back).
TEST(HttpClientTest, CancelEndsTheWaitForTheHead) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.WaitPeerClosed(absl::Seconds(30));
  });
  prometheus::Registry registry;
  KubeMetrics metrics(registry);
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server), &metrics);
  WatchOptions options;
  options.path = kPods;
  options.timeout = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = client->Watch(options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE(server.WaitForRequests(1, kWait));
  absl::Notification returned;
  absl::Status status;
  std::thread reader([&] {
    status = (*stream)->Next().status();
    returned.Notify();
  });
  EXPECT_FALSE(returned.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  (*stream)->Cancel();
  EXPECT_TRUE(returned.WaitForNotificationWithTimeout(absl::Seconds(1)));
  reader.join();
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  EXPECT_EQ(MetricValue(registry, "drover_controller_kube_requests_total",
                        {{"verb", "watch"}, {"code", "error"}}),
            1);
}

// A 429 is ResourceExhausted and carries Retry-After.
TEST(HttpClientTest, TooManyRequestsCarriesRetryAfter) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(HttpResponse(429, StatusBody(429, "TooManyRequests", "slow down"), "application/json",
                         "Retry-After: 7\r\n"));
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  ListOptions options;
  options.path = kPods;
  const absl::Status s = client->List(options).status();
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(RetryAfter(s), absl::Seconds(7));
  EXPECT_THAT(s.message(), HasSubstr("slow down"));
}

TEST(HttpClientTest, StatusCodesMapToAbslCodes) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request& r) {
    const int code = std::stoi(r.path.substr(1));
    c.Write(HttpResponse(code, StatusBody(code, "Whatever", absl::StrCat("answer ", code))));
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  const std::map<int, absl::StatusCode> table = {
      {400, absl::StatusCode::kInvalidArgument},  {401, absl::StatusCode::kUnauthenticated},
      {403, absl::StatusCode::kPermissionDenied}, {404, absl::StatusCode::kNotFound},
      {409, absl::StatusCode::kAborted},          {422, absl::StatusCode::kInvalidArgument},
      {500, absl::StatusCode::kUnavailable},      {503, absl::StatusCode::kUnavailable}};
  for (const auto& [http, code] : table) {
    const absl::Status s = client->Get(absl::StrCat("/", http)).status();
    EXPECT_EQ(s.code(), code) << http << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("answer ", http)));
  }
}

// A patch goes out with exactly the given content type and body.
TEST(HttpClientTest, PatchSendsContentTypeAndBody) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(HttpResponse(200, PodJson("web-0", "9")));
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  const std::string body = R"({"metadata":{"annotations":{"drover.io/drain":"true"}}})";
  absl::StatusOr<std::string> answer =
      client->Patch("/api/v1/namespaces/shop/pods/web-0?fieldManager=drover", body,
                    "application/merge-patch+json");
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_THAT(*answer, HasSubstr(R"("name":"web-0")"));
  const FakeApiServer::Request request = server.requests().at(0);
  EXPECT_EQ(request.method, "PATCH");
  EXPECT_EQ(request.path, "/api/v1/namespaces/shop/pods/web-0");
  EXPECT_EQ(request.Param("fieldManager"), "drover");
  EXPECT_EQ(request.Header("Content-Type"), "application/merge-patch+json");
  EXPECT_EQ(request.body, body);
}

TEST(HttpClientTest, PutSendsJson) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request& r) {
    c.Write(HttpResponse(200, r.body));
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  const std::string body = R"({"kind":"Scale","spec":{"replicas":3}})";
  absl::StatusOr<std::string> answer =
      client->Put("/apis/apps/v1/namespaces/shop/deployments/web/scale", body);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(*answer, body);
  EXPECT_EQ(server.requests().at(0).method, "PUT");
  EXPECT_EQ(server.requests().at(0).Header("Content-Type"), "application/json");
}

// The token file is re-read once its reload interval has passed, not on every request.
TEST(HttpClientTest, TokenFileIsReread) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(HttpResponse(200, "{}"));
  });
  const std::string path =
      (std::filesystem::temp_directory_path() / absl::StrCat("drover-token-", getpid())).string();
  std::ofstream(path) << "one\n";
  absl::Mutex mu;
  absl::Time now = absl::UnixEpoch();
  KubeClientConfig config = ConfigFor(server);
  config.token_file = path;
  config.now = [&] {
    absl::MutexLock lock(&mu);
    return now;
  };
  const auto advance = [&](absl::Duration d) {
    absl::MutexLock lock(&mu);
    now += d;
  };
  std::unique_ptr<KubeClient> client = MustClient(config);
  ASSERT_TRUE(client->Get("/1").ok());
  std::ofstream(path) << "two\n";
  advance(absl::Seconds(30));
  ASSERT_TRUE(client->Get("/2").ok());
  advance(absl::Seconds(31));
  ASSERT_TRUE(client->Get("/3").ok());
  std::filesystem::remove(path);  // unreadable: the last token stays
  advance(absl::Minutes(2));
  ASSERT_TRUE(client->Get("/4").ok());

  const std::vector<FakeApiServer::Request> requests = server.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].Header("Authorization"), "Bearer one");
  EXPECT_EQ(requests[1].Header("Authorization"), "Bearer one");
  EXPECT_EQ(requests[2].Header("Authorization"), "Bearer two");
  EXPECT_EQ(requests[3].Header("Authorization"), "Bearer two");
}

// A chunked watch body delivered one byte per chunk (and per TCP segment) decodes into the
// same events, each as soon as it is complete: the body is read as it arrives.
TEST(HttpClientTest, WatchBodySplitByteByByte) {
  const std::vector<std::string> events = {
      EventJson("ADDED", PodJson("a", "11")), EventJson("MODIFIED", PodJson("a", "12")),
      EventJson("BOOKMARK", R"({"kind":"Pod","metadata":{"resourceVersion":"13"}})"),
      EventJson("ERROR", StatusBody(410, "Expired", "too old resource version: 10 (13)"))};
  std::vector<std::unique_ptr<absl::Notification>> delivered;
  for (size_t i = 0; i < events.size(); ++i) {
    delivered.push_back(std::make_unique<absl::Notification>());
  }
  FakeApiServer server([&](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(ChunkedHead());
    for (size_t i = 0; i < events.size(); ++i) {
      for (char byte : events[i]) c.Write(Chunk(std::string(1, byte)));
      // The next event is sent only once the client has this one: no buffering to the end.
      if (!delivered[i]->WaitForNotificationWithTimeout(kWait)) return;
    }
    c.Write(LastChunk());
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  WatchOptions options;
  options.path = kPods;
  options.label_selector = "app=web";
  options.resource_version = "10";
  options.timeout = absl::Seconds(321);
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = client->Watch(options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  const WatchEventType types[] = {WatchEventType::kAdded, WatchEventType::kModified,
                                  WatchEventType::kBookmark, WatchEventType::kError};
  for (size_t i = 0; i < events.size(); ++i) {
    absl::StatusOr<WatchEvent> event = (*stream)->Next();
    ASSERT_TRUE(event.ok()) << i << ": " << event.status();
    EXPECT_EQ(event->type, types[i]);
    delivered[i]->Notify();
  }
  const absl::Status end = (*stream)->Next().status();
  EXPECT_TRUE(absl::IsOutOfRange(end)) << end;

  const FakeApiServer::Request request = server.requests().at(0);
  EXPECT_EQ(request.path, kPods);
  EXPECT_EQ(request.Param("watch"), "1");
  EXPECT_EQ(request.Param("resourceVersion"), "10");
  EXPECT_EQ(request.Param("allowWatchBookmarks"), "true");
  EXPECT_EQ(request.Param("timeoutSeconds"), "321");
  EXPECT_EQ(request.Param("labelSelector"), "app=web");
}

// Several events in one chunk, and one event across chunks of odd sizes.
TEST(HttpClientTest, WatchEventsShareAndSpanChunks) {
  const std::string body =
      absl::StrCat(EventJson("ADDED", PodJson("a", "1")), EventJson("ADDED", PodJson("b", "2")),
                   EventJson("DELETED", PodJson("a", "3")));
  FakeApiServer server([&](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(ChunkedHead());
    c.Write(Chunk(body.substr(0, 200)));  // the first event, and part of the second
    c.Write(Chunk(body.substr(200, 7)));
    c.Write(Chunk(body.substr(207)) + LastChunk());
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  WatchOptions options;
  options.path = kPods;
  options.timeout = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = client->Watch(options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::vector<std::string> keys;
  absl::StatusOr<WatchEvent> event;
  while ((event = (*stream)->Next()).ok()) {
    keys.push_back(
        absl::StrCat(AsAbsl(WatchEventTypeName(event->type)), " ", ParsePod(event->object)->Key()));
  }
  EXPECT_TRUE(absl::IsOutOfRange(event.status())) << event.status();
  EXPECT_EQ(keys, (std::vector<std::string>{"ADDED shop/a", "ADDED shop/b", "DELETED shop/a"}));
}

// A connection cut mid-stream is an error, never a clean end.
TEST(HttpClientTest, BrokenWatchStreamIsAnError) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(ChunkedHead());
    const std::string event = EventJson("ADDED", PodJson("a", "1"));
    c.Write(Chunk(event));
    c.Write(Chunk(event.substr(0, 20)));
    c.Close();
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  WatchOptions options;
  options.path = kPods;
  options.timeout = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = client->Watch(options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_TRUE((*stream)->Next().ok());
  const absl::Status s = (*stream)->Next().status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("connection closed"));
}

// Undecodable bytes in a watch body break the stream with a clear error.
TEST(HttpClientTest, UndecodableWatchBodyIsAnError) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(ChunkedHead() + Chunk("<html>proxy error</html>\n") + LastChunk());
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  WatchOptions options;
  options.path = kPods;
  options.timeout = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = client->Watch(options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  const absl::Status s = (*stream)->Next().status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("undecodable"));
}

// Cancel() from another thread ends a Next() blocked on a silent watch, and closes the
// connection; so does dropping the stream.
TEST(HttpClientTest, CancelEndsABlockedNext) {
  std::atomic<int> peer_closed{0};
  FakeApiServer server([&](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(ChunkedHead() + Chunk(EventJson("ADDED", PodJson("a", "1"))));
    if (c.WaitPeerClosed(kWait)) ++peer_closed;
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  WatchOptions options;
  options.path = kPods;
  options.timeout = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = client->Watch(options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->Next().ok());
  absl::Notification returned;
  absl::Status blocked;
  std::thread reader([&] {
    blocked = (*stream)->Next().status();
    returned.Notify();
  });
  // Give the reader time to block; the assertions below hold either way.
  EXPECT_FALSE(returned.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  const absl::Time cancelled_at = absl::Now();
  (*stream)->Cancel();
  ASSERT_TRUE(returned.WaitForNotificationWithTimeout(kWait));
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(1));
  reader.join();
  EXPECT_TRUE(absl::IsCancelled(blocked)) << blocked;

  absl::StatusOr<std::unique_ptr<WatchStream>> second = client->Watch(options);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE((*second)->Next().ok());
  second->reset();
  const absl::Time deadline = absl::Now() + kWait;
  while (peer_closed.load() < 2 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(peer_closed.load(), 2);
}

// A stream dropped before its first Next() cancels its request quietly (pplx would terminate
// the process over the cancelled task's unobserved exception).
TEST(HttpClientTest, DroppingAnUnopenedWatchIsSafe) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(HttpResponse(200, "{}"));
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  WatchOptions options;
  options.path = kPods;
  options.timeout = absl::Seconds(60);
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::unique_ptr<WatchStream>> stream = client->Watch(options);
    ASSERT_TRUE(stream.ok()) << stream.status();
  }
  EXPECT_TRUE(client->Get("/after").ok());
}

// The client-side limit of a watch is its own timeout plus the margin: a watch silent past
// that (a server that lost it without closing) is cut, not waited on forever.
TEST(HttpClientTest, WatchSilentPastItsLimitIsCut) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(ChunkedHead());
    c.Sleep(absl::Seconds(30));
  });
  KubeClientConfig config = ConfigFor(server);
  config.watch_timeout_margin = absl::Milliseconds(200);
  std::unique_ptr<KubeClient> client = MustClient(config);
  WatchOptions options;
  options.path = kPods;
  options.timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = client->Watch(options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  const absl::Time start = absl::Now();
  const absl::Status s = (*stream)->Next().status();
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

// Ordinary requests are bounded by request_timeout.
TEST(HttpClientTest, RequestTimeout) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Sleep(absl::Seconds(30));
  });
  KubeClientConfig config = ConfigFor(server);
  config.request_timeout = absl::Milliseconds(300);
  std::unique_ptr<KubeClient> client = MustClient(config);
  const absl::Time start = absl::Now();
  const absl::Status s = client->Get("/slow").status();
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

// A path cpprestsdk cannot make a URI of is the caller's mistake, not an outage.
TEST(HttpClientTest, BadPathIsInvalidArgument) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request&) {
    c.Write(HttpResponse(200, "{}"));
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  const absl::Status s = client->Get("/api/v1/namespaces/a b/pods").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_TRUE(server.requests().empty());
}

// No server: Unavailable, counted with code "error".
TEST(HttpClientTest, ConnectionRefused) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);  // bound, never listening: connections are refused
  KubeClientConfig config;
  config.server = absl::StrCat("http://127.0.0.1:", ntohs(addr.sin_port));
  prometheus::Registry registry;
  KubeMetrics metrics(registry);
  std::unique_ptr<KubeClient> client = MustClient(config, &metrics);
  const absl::Status s = client->Get("/api").status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_EQ(HttpStatusOf(s), std::nullopt);
  EXPECT_EQ(MetricValue(registry, "drover_controller_kube_requests_total",
                        {{"verb", "get"}, {"code", "error"}}),
            1);
}

TEST(HttpClientTest, BadTlsMaterialFailsAtCreation) {
  KubeClientConfig config;
  config.server = "https://127.0.0.1:6443";
  config.source = "kubeconfig /k (context dev)";
  config.ca_pem = "not a certificate";
  absl::StatusOr<std::unique_ptr<KubeClient>> client = NewKubeClient(config);
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.status().message(), HasSubstr("kubeconfig /k (context dev)"));
  EXPECT_THAT(client.status().message(), HasSubstr("CA bundle"));

  config.ca_pem = "";
  config.client_certificate_pem = "junk";
  config.client_key_pem = "junk";
  client = NewKubeClient(config);
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.status().message(), HasSubstr("client certificate"));
}

// The reflector over the real client: list, watch, store, and a prompt Stop() while the
// watch is open and silent.
TEST(HttpClientTest, ReflectorOverHttp) {
  FakeApiServer server([](FakeApiServer::Connection& c, const FakeApiServer::Request& r) {
    if (r.Param("watch") != "1") {
      c.Write(HttpResponse(200, absl::StrCat(R"({"metadata":{"resourceVersion":"5"},"items":[)",
                                             PodJson("a", "4"), "]}")));
      return;
    }
    c.Write(ChunkedHead() + Chunk(EventJson("ADDED", PodJson("b", "6"))));
    c.WaitPeerClosed(absl::Seconds(30));
  });
  std::unique_ptr<KubeClient> client = MustClient(ConfigFor(server));
  PodStore store;
  absl::Mutex mu;
  size_t pods = 0;
  store.SetOnChange([&] {
    absl::MutexLock lock(&mu);
    pods = store.size();
  });
  ReflectorOptions options;
  options.path = kPods;
  Reflector reflector(client.get(), &store, options);
  reflector.Start();
  EXPECT_TRUE(reflector.WaitForSync(kWait));
  {
    absl::MutexLock lock(&mu);
    const auto two = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return pods == 2; };
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&two), kWait));
  }
  // The resourceVersion moves just after the store changes.
  const absl::Time deadline = absl::Now() + kWait;
  while (reflector.state().resource_version != "6" && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(reflector.state().resource_version, "6");
  EXPECT_TRUE(reflector.state().watching);
  const FakeApiServer::Request watch = server.requests().at(1);
  EXPECT_EQ(watch.Param("resourceVersion"), "5");
  const int timeout = std::stoi(watch.Param("timeoutSeconds").value_or("0"));
  EXPECT_GE(timeout, 300);
  EXPECT_LE(timeout, 600);
  const absl::Time start = absl::Now();
  reflector.Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

}  // namespace
}  // namespace drover::kube
