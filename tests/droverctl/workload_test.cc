#include "droverctl/workload.h"

#include <string>

#include "gtest/gtest.h"

namespace drover::ctl {
namespace {

struct Case {
  const char* text;
  v1::WorkloadKind kind;
  const char* name;
};

// Every spelling kubectl accepts for the two kinds, in any case.
TEST(ParseWorkloadTest, KubectlSpellings) {
  for (const Case& c : {
           Case{"deployment/web", v1::DEPLOYMENT, "web"},
           Case{"deployments/web", v1::DEPLOYMENT, "web"},
           Case{"deploy/web", v1::DEPLOYMENT, "web"},
           Case{"deployment.apps/web", v1::DEPLOYMENT, "web"},
           Case{"Deployment/web", v1::DEPLOYMENT, "web"},
           Case{"statefulset/db", v1::STATEFULSET, "db"},
           Case{"statefulsets/db", v1::STATEFULSET, "db"},
           Case{"sts/db", v1::STATEFULSET, "db"},
           Case{"statefulset.apps/db-0.x", v1::STATEFULSET, "db-0.x"},
       }) {
    absl::StatusOr<Workload> workload = ParseWorkload(c.text);
    ASSERT_TRUE(workload.ok()) << c.text << ": " << workload.status();
    EXPECT_EQ(workload->kind, c.kind) << c.text;
    EXPECT_EQ(workload->name, c.name) << c.text;
  }
}

// Anything else is refused with a message that quotes the argument.
TEST(ParseWorkloadTest, BadForms) {
  for (const char* text :
       {"web", "", "/web", "deployment/", "pod/web", "deployment/web/x", "deployment/Web",
        "deployment/-web", "deployment/web-", "deploy/w_b", "daemonset/web", "deployment web"}) {
    absl::StatusOr<Workload> workload = ParseWorkload(text);
    EXPECT_FALSE(workload.ok()) << text;
    EXPECT_EQ(workload.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(workload.status().message().find(std::string("'") + text + "'"),
              absl::string_view::npos)
        << workload.status();
  }
}

TEST(ParseWorkloadTest, NameLengthLimit) {
  EXPECT_TRUE(ParseWorkload("deploy/" + std::string(253, 'a')).ok());
  EXPECT_FALSE(ParseWorkload("deploy/" + std::string(254, 'a')).ok());
}

// Shown as kubectl shows them: resource.group/name.
TEST(ResourceNameTest, KubectlForm) {
  EXPECT_EQ(ResourceName(v1::DEPLOYMENT, "web"), "deployment.apps/web");
  EXPECT_EQ(ResourceName(v1::STATEFULSET, "db"), "statefulset.apps/db");
  EXPECT_EQ(ResourceName(*ParseWorkload("sts/db")), "statefulset.apps/db");
}

}  // namespace
}  // namespace drover::ctl
