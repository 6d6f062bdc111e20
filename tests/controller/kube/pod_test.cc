#include "controller/kube/pod.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::kube {
namespace {

using ::testing::HasSubstr;

// A pod as the API serves it (trimmed of the fields nothing reads).
constexpr char kRunningPod[] = R"({
  "kind": "Pod", "apiVersion": "v1",
  "metadata": {
    "name": "web-7d4b9-x2x9z", "namespace": "shop", "uid": "6f1c-11",
    "resourceVersion": "48211", "creationTimestamp": "2024-05-01T10:00:00Z",
    "labels": {"app.kubernetes.io/name": "web", "pod-template-hash": "7d4b9"},
    "annotations": {"drover.io/workers": "4", "drover.io/peer-port": "7001"},
    "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]
  },
  "spec": {"containers": [{"name": "app", "image": "node:20"}]},
  "status": {
    "phase": "Running", "podIP": "10.1.2.3", "podIPs": [{"ip": "10.1.2.3"}],
    "conditions": [
      {"type": "Initialized", "status": "True"},
      {"type": "Ready", "status": "True"},
      {"type": "ContainersReady", "status": "True"}
    ]
  }
})";

TEST(PodTest, ParsesARunningPod) {
  absl::StatusOr<Pod> pod = ParsePod(kRunningPod);
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->namespace_name, "shop");
  EXPECT_EQ(pod->name, "web-7d4b9-x2x9z");
  EXPECT_EQ(pod->Key(), "shop/web-7d4b9-x2x9z");
  EXPECT_EQ(pod->uid, "6f1c-11");
  EXPECT_EQ(pod->resource_version, "48211");
  EXPECT_EQ(pod->creation_timestamp, "2024-05-01T10:00:00Z");
  EXPECT_EQ(pod->labels.at("app.kubernetes.io/name"), "web");
  EXPECT_EQ(pod->annotations.at("drover.io/workers"), "4");
  EXPECT_EQ(pod->phase, "Running");
  EXPECT_EQ(pod->pod_ip, "10.1.2.3");
  EXPECT_TRUE(pod->ready);
  EXPECT_EQ(pod->deletion_timestamp, "");
}

// A pod just created has no status fields, no IP, no labels: all of that is optional.
TEST(PodTest, ParsesAPendingPodWithoutOptionalFields) {
  absl::StatusOr<Pod> pod = ParsePod(
      R"({"metadata":{"name":"web-1","namespace":"shop","labels":null},"status":{"phase":"Pending"}})");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->phase, "Pending");
  EXPECT_EQ(pod->pod_ip, "");
  EXPECT_FALSE(pod->ready);
  EXPECT_TRUE(pod->labels.empty());
}

TEST(PodTest, ReadyFollowsTheReadyConditionOnly) {
  absl::StatusOr<Pod> not_ready = ParsePod(
      R"({"metadata":{"name":"a"},"status":{"conditions":[{"type":"ContainersReady","status":"True"},{"type":"Ready","status":"False"}]}})");
  ASSERT_TRUE(not_ready.ok()) << not_ready.status();
  EXPECT_FALSE(not_ready->ready);
  absl::StatusOr<Pod> unknown = ParsePod(
      R"({"metadata":{"name":"a"},"status":{"conditions":[{"type":"Ready","status":"Unknown"}]}})");
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->ready);
}

TEST(PodTest, ParsesATerminatingPod) {
  absl::StatusOr<Pod> pod = ParsePod(
      R"({"metadata":{"name":"a","namespace":"b","deletionTimestamp":"2024-05-01T10:05:00Z"}})");
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->deletion_timestamp, "2024-05-01T10:05:00Z");
}

TEST(PodTest, RejectsWhatIsNotAPod) {
  struct Case {
    const char* json;
    const char* message;
  };
  for (const Case& c : {
           Case{"", "bad JSON"},
           Case{"{", "bad JSON"},
           Case{"[]", "JSON object"},
           Case{R"({"kind":"Pod"})", "without metadata"},
           Case{R"({"metadata":{"namespace":"a"}})", "metadata.name"},
           Case{R"({"metadata":{"name":7}})", "metadata.name is a number, not a string"},
           Case{R"({"metadata":{"name":"a","labels":{"x":1}}})", R"(metadata.labels["x"])"},
           Case{R"({"metadata":{"name":"a","annotations":[]}})",
                "metadata.annotations is an array"},
           Case{R"({"metadata":{"name":"a"},"status":{"podIP":false}})", "status.podIP"},
           Case{R"({"metadata":{"name":"a"},"status":{"conditions":{}}})", "status.conditions"},
           Case{R"({"metadata":{"name":"a"},"status":"Running"})", "pod.status is a string"},
       }) {
    absl::StatusOr<Pod> pod = ParsePod(c.json);
    ASSERT_FALSE(pod.ok()) << c.json;
    EXPECT_THAT(pod.status().message(), HasSubstr(c.message)) << c.json;
  }
}

TEST(PodTest, ResourceVersionOfABookmark) {
  absl::StatusOr<std::string> rv =
      ParseResourceVersion(R"({"kind":"Pod","metadata":{"resourceVersion":"991"}})");
  ASSERT_TRUE(rv.ok()) << rv.status();
  EXPECT_EQ(*rv, "991");
  EXPECT_FALSE(ParseResourceVersion(R"({"kind":"Pod","metadata":{}})").ok());
  EXPECT_FALSE(ParseResourceVersion("nope").ok());
}

}  // namespace
}  // namespace drover::kube
