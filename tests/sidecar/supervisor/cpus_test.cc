#include "sidecar/supervisor/cpus.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::supervisor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<int> Range(int first, int last) {
  std::vector<int> out;
  for (int i = first; i <= last; ++i) out.push_back(i);
  return out;
}

// A fake /proc/self/cgroup, cgroup mount and /sys/devices/system/cpu under a fresh temp dir.
class CpusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = absl::StrCat(::testing::TempDir(), "/cpus_test.XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    env_.proc_self_cgroup = root_ + "/proc_self_cgroup";
    env_.cgroup_root = root_ + "/cgroup";
    env_.sys_cpu_root = root_ + "/cpu";
    std::filesystem::create_directories(env_.cgroup_root);
    env_.affinity = Range(0, 3);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::permissions(root_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(root_, ec);
  }

  // Writes `content` to `rel` under the temp dir, creating its directories.
  std::string Write(const std::string& rel, const std::string& content) {
    std::filesystem::path path = std::filesystem::path(root_) / rel;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << content;
    return path.string();
  }

  // A cgroup v2 host whose process lives in `path`.
  void UnifiedHierarchy(const std::string& path) {
    Write("proc_self_cgroup", absl::StrCat("0::", path, "\n"));
    Write("cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
    std::filesystem::create_directories(env_.cgroup_root + path);
  }

  // A cgroup v1 host with cpu,cpuacct and cpuset hierarchies, the process in `path` in both.
  void LegacyHierarchy(const std::string& path) {
    Write("proc_self_cgroup", absl::StrCat("12:memory:", path, "\n4:cpu,cpuacct:", path,
                                           "\n3:cpuset:", path, "\n1:name=systemd:/\n"));
    std::filesystem::create_directories(env_.cgroup_root + "/cpu,cpuacct" + path);
    std::filesystem::create_directories(env_.cgroup_root + "/cpuset" + path);
  }

  // Gives every CPU in `cores` a topology file naming its core's threads.
  void Topology(const std::vector<std::string>& cores) {
    for (const std::string& core : cores) {
      std::vector<int> threads = *ParseCpuList(core);  // range-for would not extend its life
      for (int cpu : threads) {
        Write(absl::StrCat("cpu/cpu", cpu, "/topology/thread_siblings_list"), core + "\n");
      }
    }
  }

  CpuDecision Decide() {
    absl::StatusOr<CpuDecision> d = DecideCpus(env_);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : CpuDecision{};
  }

  std::string root_;
  CpuEnvironment env_;
};

// With no quota and no cpuset anywhere, every CPU in the affinity mask gets a worker.
TEST_F(CpusTest, NoCgroupLimitsAffinityDecides) {
  UnifiedHierarchy("/app");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 4);
  EXPECT_THAT(d.cpus, ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(d.reason, "workers=4: 4 CPUs in affinity, cgroup v2 without a CPU quota");
}

// A fractional v2 quota is rounded down: 1.5 CPUs of time gives one worker.
TEST_F(CpusTest, V2FractionalQuotaRoundsDown) {
  UnifiedHierarchy("/app");
  Write("cgroup/app/cpu.max", "150000 100000\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 1);
  EXPECT_THAT(d.cpus, ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(d.reason, HasSubstr("cgroup v2 cpu.max 150000/100000 = 1.5 CPUs (at /app)"));
}

// "max" in cpu.max means unlimited, not a parse error.
TEST_F(CpusTest, V2MaxMeansNoLimit) {
  UnifiedHierarchy("/app");
  Write("cgroup/app/cpu.max", "max 100000\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 4);
  EXPECT_THAT(d.reason, Not(HasSubstr("ignored")));
}

// Kubernetes sets the limit on the pod's cgroup: a parent's quota binds a leaf that has none.
TEST_F(CpusTest, V2QuotaOnParentApplies) {
  UnifiedHierarchy("/kubepods/pod1/ctr");
  Write("cgroup/kubepods/pod1/ctr/cpu.max", "max 100000\n");
  Write("cgroup/kubepods/pod1/cpu.max", "200000 100000\n");
  Write("cgroup/kubepods/cpu.max", "max 100000\n");
  Write("cgroup/cpuset.cpus.effective", "0-3\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 2);
  EXPECT_EQ(d.reason,
            "workers=2: 4 CPUs in affinity, cpuset 0-3, cgroup v2 cpu.max 200000/100000 = 2 CPUs "
            "(at /kubepods/pod1)");
}

// When several ancestors set quotas the tightest wins, wherever it sits.
TEST_F(CpusTest, V2TightestQuotaWins) {
  env_.affinity = Range(0, 15);
  UnifiedHierarchy("/a/b/c");
  Write("cgroup/a/b/c/cpu.max", "800000 100000\n");
  Write("cgroup/a/b/cpu.max", "150000 50000\n");
  Write("cgroup/a/cpu.max", "1000000 100000\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 3);
  EXPECT_THAT(d.reason, HasSubstr("150000/50000 = 3 CPUs (at /a/b)"));
}

// A cpuset narrower than the affinity mask limits both the count and the pinning list.
TEST_F(CpusTest, V2CpusetNarrowerThanAffinity) {
  env_.affinity = Range(0, 7);
  UnifiedHierarchy("/app");
  Write("cgroup/cpuset.cpus.effective", "0-7\n");
  Write("cgroup/app/cpuset.cpus.effective", "2-3,6\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 3);
  EXPECT_THAT(d.cpus, ElementsAre(2, 3, 6));
  EXPECT_THAT(d.reason, HasSubstr("8 CPUs in affinity, cpuset 2-3,6 (3 usable)"));
}

// An affinity mask narrower than the cpuset (taskset inside a container) is respected too.
TEST_F(CpusTest, AffinityNarrowerThanCpuset) {
  env_.affinity = std::vector<int>{1, 3};
  UnifiedHierarchy("/app");
  Write("cgroup/app/cpuset.cpus.effective", "0-7\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 2);
  EXPECT_THAT(d.cpus, ElementsAre(1, 3));
}

// A container with its own cgroup namespace sees "0::/" and its limits on the mount root.
TEST_F(CpusTest, V2RootPathWithLimitsAtRoot) {
  UnifiedHierarchy("/");
  Write("cgroup/cpu.max", "300000 100000\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 3);
  EXPECT_THAT(d.reason, HasSubstr("= 3 CPUs (at /)"));
}

// A path that does not exist under the mount (host path, container mount) means the mount root.
TEST_F(CpusTest, V2MissingPathFallsBackToMountRoot) {
  Write("proc_self_cgroup", "0::/kubepods/pod9/abc\n");
  Write("cgroup/cgroup.controllers", "cpu\n");
  Write("cgroup/cpu.max", "200000 100000\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 2);
  EXPECT_THAT(d.reason, HasSubstr("cgroup /kubepods/pod9/abc not under"));
}

// v1: quota 2.5 CPUs under a 0-7 cpuset gives two workers, pinned anywhere in the cpuset.
TEST_F(CpusTest, V1QuotaAndCpuset) {
  env_.affinity = Range(0, 15);
  LegacyHierarchy("/docker/abc");
  Write("cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "250000\n");
  Write("cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  Write("cgroup/cpuset/docker/abc/cpuset.cpus", "0-7\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 2);
  EXPECT_EQ(d.cpus, Range(0, 7));
  EXPECT_EQ(d.reason,
            "workers=2: 16 CPUs in affinity, cpuset 0-7 (8 usable), cgroup v1 "
            "cpu.cfs_quota_us/cpu.cfs_period_us 250000/100000 = 2.5 CPUs (at /docker/abc)");
}

// A quota below one CPU still runs one worker.
TEST_F(CpusTest, V1QuotaBelowOneCpuGivesOne) {
  LegacyHierarchy("/app");
  Write("cgroup/cpu,cpuacct/app/cpu.cfs_quota_us", "50000\n");
  Write("cgroup/cpu,cpuacct/app/cpu.cfs_period_us", "100000\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 1);
  EXPECT_THAT(d.reason, HasSubstr("= 0.5 CPUs"));
}

// v1 quota -1 is unlimited; an ancestor's quota still applies, and cpuset.effective_cpus beats
// cpuset.cpus.
TEST_F(CpusTest, V1UnlimitedLeafLimitedParent) {
  env_.affinity = Range(0, 7);
  LegacyHierarchy("/pod/ctr");
  Write("cgroup/cpu,cpuacct/pod/ctr/cpu.cfs_quota_us", "-1\n");
  Write("cgroup/cpu,cpuacct/pod/ctr/cpu.cfs_period_us", "100000\n");
  Write("cgroup/cpu,cpuacct/pod/cpu.cfs_quota_us", "300000\n");
  Write("cgroup/cpu,cpuacct/pod/cpu.cfs_period_us", "100000\n");
  Write("cgroup/cpuset/pod/ctr/cpuset.cpus", "0-7\n");
  Write("cgroup/cpuset/pod/ctr/cpuset.effective_cpus", "0-5\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 3);
  EXPECT_EQ(d.cpus, Range(0, 5));
}

// v1 with separate cpu and cpuacct lines and "/" paths (this is what Docker shows) reads the
// `cpu` mount root.
TEST_F(CpusTest, V1SeparateCpuHierarchyAtRoot) {
  Write("proc_self_cgroup", "3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n");
  Write("cgroup/cpu/cpu.cfs_quota_us", "200000\n");
  Write("cgroup/cpu/cpu.cfs_period_us", "100000\n");
  Write("cgroup/cpuset/cpuset.cpus", "0-3\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 2);
  EXPECT_THAT(d.reason, HasSubstr("cgroup v1 "));
}

// A v1 path missing under the mount (no cgroup namespace) falls back to the mount root.
TEST_F(CpusTest, V1MissingPathFallsBackToMountRoot) {
  Write("proc_self_cgroup", "4:cpu,cpuacct:/docker/abc\n3:cpuset:/docker/abc\n");
  Write("cgroup/cpu,cpuacct/cpu.cfs_quota_us", "100000\n");
  Write("cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  Write("cgroup/cpuset/cpuset.cpus", "1-2\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 1);
  EXPECT_THAT(d.cpus, ElementsAre(1, 2));
}

// "0::/" without cgroup.controllers at the root is a hybrid host: the v1 hierarchies decide.
TEST_F(CpusTest, HybridHostUsesV1) {
  LegacyHierarchy("/app");
  Write("proc_self_cgroup", "4:cpu,cpuacct:/app\n3:cpuset:/app\n0::/app\n");
  Write("cgroup/cpu,cpuacct/app/cpu.cfs_quota_us", "300000\n");
  Write("cgroup/cpu,cpuacct/app/cpu.cfs_period_us", "100000\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 3);
  EXPECT_THAT(d.reason, HasSubstr("cgroup v1 "));
}

// Malformed cgroup files are skipped with a note and never fail the decision.
TEST_F(CpusTest, MalformedFilesIgnored) {
  UnifiedHierarchy("/app");
  Write("cgroup/app/cpu.max", "lots\n");
  Write("cgroup/cpu.max", "100000 0\n");
  Write("cgroup/app/cpuset.cpus.effective", "x-y\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 4);
  EXPECT_THAT(d.cpus, ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(d.reason, HasSubstr("app/cpu.max: malformed \"lots\""));
  EXPECT_THAT(d.reason, HasSubstr("cgroup/cpu.max: malformed \"100000 0\""));
  EXPECT_THAT(d.reason, HasSubstr("cpuset.cpus.effective: malformed \"x-y\""));
}

// A malformed leaf file does not hide a valid quota further up.
TEST_F(CpusTest, MalformedLeafValidParent) {
  UnifiedHierarchy("/pod/ctr");
  Write("cgroup/pod/ctr/cpu.max", "\n");
  Write("cgroup/pod/cpu.max", "200000 100000\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 2);
  EXPECT_THAT(d.reason, HasSubstr("ignored"));
}

// Malformed v1 numbers and an unreadable file are skipped too.
TEST_F(CpusTest, MalformedV1FilesIgnored) {
  LegacyHierarchy("/app");
  Write("cgroup/cpu,cpuacct/app/cpu.cfs_quota_us", "fast\n");
  Write("cgroup/cpu,cpuacct/cpu.cfs_quota_us", "100000\n");
  Write("cgroup/cpu,cpuacct/cpu.cfs_period_us", "-5\n");
  std::string cpuset = Write("cgroup/cpuset/app/cpuset.cpus", "0-1\n");
  chmod(cpuset.c_str(), 0);
  bool can_bypass_permissions = std::ifstream(cpuset).good();  // root ignores the mode
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, can_bypass_permissions ? 2 : 4);
  EXPECT_THAT(d.reason, HasSubstr("cpu.cfs_quota_us: malformed \"fast\""));
  EXPECT_THAT(d.reason, HasSubstr("cpu.cfs_period_us: -5"));
}

// Without /proc/self/cgroup the affinity mask alone decides.
TEST_F(CpusTest, MissingProcCgroup) {
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 4);
  EXPECT_THAT(d.reason, HasSubstr("no cgroup CPU limits found; ignored"));
}

// A cpuset that shares no CPU with the affinity is stale; the affinity is what the kernel uses.
TEST_F(CpusTest, DisjointCpusetIgnored) {
  UnifiedHierarchy("/app");
  Write("cgroup/app/cpuset.cpus.effective", "8-9\n");
  CpuDecision d = Decide();
  EXPECT_EQ(d.workers, 4);
  EXPECT_THAT(d.cpus, ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(d.reason, HasSubstr("ignored cpuset 8-9"));
}

// An empty affinity is the caller's error, not something to paper over.
TEST_F(CpusTest, EmptyAffinityIsAnError) {
  env_.affinity = std::vector<int>{};
  EXPECT_EQ(DecideCpus(env_).status().code(), absl::StatusCode::kInvalidArgument);
}

// When threads 0,2 and 1,3 share cores, CPU order already puts one thread per core first.
TEST_F(CpusTest, SmtSiblingsInterleaved) {
  Topology({"0,2", "1,3"});
  CpuDecision d = Decide();
  EXPECT_THAT(d.cpus, ElementsAre(0, 1, 2, 3));
}

// When threads 0,1 and 2,3 share cores, the second thread of each core goes last.
TEST_F(CpusTest, SmtSiblingsAdjacent) {
  Topology({"0-1", "2-3"});
  CpuDecision d = Decide();
  EXPECT_THAT(d.cpus, ElementsAre(0, 2, 1, 3));
}

// A CPU whose sibling is outside the allowed set counts as its core's first thread.
TEST_F(CpusTest, SmtRankCountsOnlyAllowedSiblings) {
  env_.affinity = std::vector<int>{1, 2, 3};
  Topology({"0-1", "2-3"});
  CpuDecision d = Decide();
  EXPECT_THAT(d.cpus, ElementsAre(1, 2, 3));
}

// A missing topology file means no SMT information: plain CPU order.
TEST_F(CpusTest, MissingTopologyKeepsCpuOrder) {
  Topology({"0-1"});
  CpuDecision d = Decide();
  EXPECT_THAT(d.cpus, ElementsAre(0, 1, 2, 3));
}

// The kernel's list format, including whitespace around it and duplicates.
TEST(ParseCpuListTest, AcceptsKernelFormat) {
  EXPECT_THAT(*ParseCpuList("0"), ElementsAre(0));
  EXPECT_THAT(*ParseCpuList("0-3,8,10-11"), ElementsAre(0, 1, 2, 3, 8, 10, 11));
  EXPECT_THAT(*ParseCpuList(""), ElementsAre());
  EXPECT_THAT(*ParseCpuList(" 1-2\n"), ElementsAre(1, 2));
  EXPECT_THAT(*ParseCpuList("5,1-2,2"), ElementsAre(1, 2, 5));
  EXPECT_THAT(*ParseCpuList("4-4"), ElementsAre(4));
}

// Reversed ranges, words, signs, empty items and absurd ids are InvalidArgument.
TEST(ParseCpuListTest, RejectsMalformed) {
  for (const char* bad : {"3-1", "a", "1,,2", "-1", "+1", "1-", "1-2-3", "0-99999999", "1:2",
                          "0-7:2/4", "99999999999"}) {
    EXPECT_EQ(ParseCpuList(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// FormatCpuList folds runs into ranges and round-trips through ParseCpuList.
TEST(FormatCpuListTest, FoldsRanges) {
  EXPECT_EQ(FormatCpuList({}), "");
  EXPECT_EQ(FormatCpuList({0}), "0");
  EXPECT_EQ(FormatCpuList({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(FormatCpuList(*ParseCpuList("0-2,4,6-9")), "0-2,4,6-9");
}

// The real machine's decision is well-formed; printed so a human can check it.
TEST(DecideCpusTest, RealMachine) {
  absl::StatusOr<CpuDecision> d = DecideCpus();
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_GE(d->workers, 1);
  EXPECT_FALSE(d->cpus.empty());
  std::cout << d->reason << "\n  pin order: " << absl::StrJoin(d->cpus, ",") << "\n";
}

}  // namespace
}  // namespace drover::supervisor
