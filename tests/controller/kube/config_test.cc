#include "controller/kube/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::kube {
namespace {

using ::testing::HasSubstr;

constexpr char kCa[] = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";

class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest() {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("drover-kube-config-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
  }
  ~ConfigTest() override {
    std::filesystem::remove_all(dir_);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
  }

  std::string Write(const std::string& name, std::string_view text) {
    const std::filesystem::path path = dir_ / name;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

  std::filesystem::path dir_;
};

// --- --kube-api ---

TEST_F(ConfigTest, KubeApiFlag) {
  absl::StatusOr<KubeClientConfig> config = ResolveConfig("http://127.0.0.1:8001/", "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "http://127.0.0.1:8001");
  EXPECT_EQ(config->default_namespace, "default");
  EXPECT_EQ(config->bearer_token, "");
  EXPECT_EQ(config->token_file, "");
}

TEST_F(ConfigTest, KubeApiFlagWithTokenFile) {
  ResolveOptions options;
  options.kube_api_token_file = Write("token", "abc\n");
  absl::StatusOr<KubeClientConfig> config = ResolveConfig("http://sim:80", "", options);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->token_file, options.kube_api_token_file);

  options.kube_api_token_file = (dir_ / "missing").string();
  absl::StatusOr<KubeClientConfig> bad = ResolveConfig("http://sim:80", "", options);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("--kube-api"));
  EXPECT_THAT(bad.status().message(), HasSubstr("missing"));
}

TEST_F(ConfigTest, KubeApiFlagErrorsNameTheFlag) {
  for (const char* url : {"127.0.0.1:8001", "ftp://x", "http://", "http:///x", "http://h?x=1"}) {
    absl::StatusOr<KubeClientConfig> config = ResolveConfig(url, "");
    ASSERT_FALSE(config.ok()) << url;
    EXPECT_THAT(config.status().message(), HasSubstr("--kube-api")) << url;
  }
  EXPECT_FALSE(ResolveConfig("http://a", "/b").ok());  // exclusive
}

// --- in-cluster ---

TEST_F(ConfigTest, InCluster) {
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  Write("sa/ca.crt", kCa);
  Write("sa/token", "tok\n");
  Write("sa/namespace", "shop\n");
  ResolveOptions options;
  options.service_account_dir = (dir_ / "sa").string();
  absl::StatusOr<KubeClientConfig> config = ResolveConfig("", "", options);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->token_file, (dir_ / "sa/token").string());
  EXPECT_EQ(config->token_reload_interval, absl::Minutes(1));
  EXPECT_EQ(config->default_namespace, "shop");
  EXPECT_EQ(config->source, "in-cluster");
}

TEST_F(ConfigTest, InClusterIpv6Host) {
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
  Write("sa/ca.crt", kCa);
  Write("sa/token", "tok");
  ResolveOptions options;
  options.service_account_dir = (dir_ / "sa").string();
  absl::StatusOr<KubeClientConfig> config = InClusterConfig(options);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://[fd00::1]:6443");
  EXPECT_EQ(config->default_namespace, "default");  // no namespace file
}

TEST_F(ConfigTest, InClusterErrors) {
  ResolveOptions options;
  options.service_account_dir = (dir_ / "sa").string();
  absl::StatusOr<KubeClientConfig> outside = ResolveConfig("", "", options);
  ASSERT_FALSE(outside.ok());
  EXPECT_THAT(outside.status().message(), HasSubstr("KUBERNETES_SERVICE_HOST"));

  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  absl::StatusOr<KubeClientConfig> no_ca = ResolveConfig("", "", options);
  ASSERT_FALSE(no_ca.ok());
  EXPECT_THAT(no_ca.status().message(), HasSubstr("ca.crt"));

  Write("sa/ca.crt", kCa);
  absl::StatusOr<KubeClientConfig> no_token = ResolveConfig("", "", options);
  ASSERT_FALSE(no_token.ok());
  EXPECT_THAT(no_token.status().message(), HasSubstr("token"));
}

// --- --kubeconfig ---

TEST_F(ConfigTest, KubeconfigWithInlineData) {
  const std::string cert = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
  const std::string key = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";
  const std::string path = Write("kubeconfig", absl::StrCat(R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: other
  cluster: {server: "https://wrong:1"}
- name: kind
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: )",
                                                            absl::Base64Escape(kCa), R"(
contexts:
- name: prod
  context: {cluster: other, user: admin}
- name: dev
  context:
    cluster: kind
    user: admin
    namespace: shop
users:
- name: admin
  user:
    client-certificate-data: )",
                                                            absl::Base64Escape(cert), R"(
    client-key-data: )",
                                                            absl::Base64Escape(key), "\n"));
  absl::StatusOr<KubeClientConfig> config = ResolveConfig("", path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->client_certificate_pem, cert);
  EXPECT_EQ(config->client_key_pem, key);
  EXPECT_EQ(config->default_namespace, "shop");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_THAT(config->source, HasSubstr("context dev"));
}

// File references are relative to the kubeconfig's own directory.
TEST_F(ConfigTest, KubeconfigWithFilesAndTokens) {
  Write("conf/ca.pem", kCa);
  Write("conf/token", "file-token\n");
  const std::string path = Write("conf/config", R"(
current-context: c
clusters:
- name: k
  cluster: {server: "https://k:443", certificate-authority: ca.pem}
contexts:
- name: c
  context: {cluster: k, user: u}
users:
- name: u
  user: {tokenFile: token}
)");
  absl::StatusOr<KubeClientConfig> config = ConfigFromKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->token_file, (dir_ / "conf/token").string());
  EXPECT_EQ(config->bearer_token, "");
  EXPECT_EQ(config->default_namespace, "default");

  const std::string inline_token = Write("conf/config2", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://k:443", insecure-skip-tls-verify: true}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {token: secret}}]
)");
  absl::StatusOr<KubeClientConfig> insecure = ConfigFromKubeconfig(inline_token);
  ASSERT_TRUE(insecure.ok()) << insecure.status();
  EXPECT_EQ(insecure->bearer_token, "secret");
  EXPECT_TRUE(insecure->insecure_skip_tls_verify);
  EXPECT_EQ(insecure->ca_pem, "");
}

TEST_F(ConfigTest, KubeconfigErrorsNameTheFile) {
  struct Case {
    const char* yaml;
    const char* message;
  };
  for (const Case& c : {
           Case{"[a, b", "bad YAML"},
           Case{"- 1\n", "not a kubeconfig"},
           Case{"clusters: []\n", "no current-context"},
           Case{"current-context: x\n", "no contexts entry named \"x\""},
           Case{"current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\n",
                "no clusters entry named \"k\""},
           Case{"current-context: x\ncontexts: [{name: x, context: {cluster: k, user: u}}]\n"
                "clusters: [{name: k, cluster: {server: \"https://k\"}}]\n"
                "users: [{name: u, user: {exec: {command: aws}}}]\n",
                "exec credentials are not supported"},
           Case{"current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\n"
                "clusters: [{name: k, cluster: {server: \"k:443\"}}]\n",
                "is not an http(s):// URL"},
           Case{"current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\n"
                "clusters: [{name: k, cluster: {server: \"https://k\", "
                "certificate-authority-data: \"%%%\"}}]\n",
                "not base64"},
           Case{"current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\n"
                "clusters: [{name: k, cluster: {server: \"https://k\", "
                "certificate-authority: /nonexistent/ca.pem}}]\n",
                "/nonexistent/ca.pem"},
           Case{"current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\n"
                "clusters: [{name: k, cluster: {server: [1]}}]\n",
                "server is not a scalar"},
       }) {
    const std::string path = Write("bad", c.yaml);
    absl::StatusOr<KubeClientConfig> config = ResolveConfig("", path);
    ASSERT_FALSE(config.ok()) << c.yaml;
    EXPECT_THAT(config.status().message(), HasSubstr(path)) << c.yaml;
    EXPECT_THAT(config.status().message(), HasSubstr(c.message)) << c.yaml;
  }
  absl::StatusOr<KubeClientConfig> missing = ResolveConfig("", (dir_ / "nope").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("--kubeconfig"));
}

}  // namespace
}  // namespace drover::kube
