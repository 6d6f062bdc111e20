#include "controller/kube/config.h"

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/strings.h"
#include "yaml-cpp/yaml.h"

namespace drover::kube {
namespace {

// Certificates, keys, tokens and kubeconfigs are small; anything bigger is the wrong file.
constexpr size_t kMaxConfigFileBytes = size_t{4} << 20;

// Checks the scheme and host of a server URL and drops trailing slashes.
absl::StatusOr<std::string> NormalizeServer(std::string_view url, std::string_view where) {
  absl::string_view rest = AsAbsl(url);
  if (!absl::ConsumePrefix(&rest, "https://") && !absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(where), ": server \"", AsAbsl(url), "\" is not an http(s):// URL"));
  }
  if (rest.empty() || rest.front() == '/' || rest.front() == ':') {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(where), ": server \"", AsAbsl(url), "\" has no host"));
  }
  if (absl::StrContains(rest, '?') || absl::StrContains(rest, '#')) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(where), ": server \"", AsAbsl(url),
                                                   "\" must not carry a query or fragment"));
  }
  std::string server(url);
  while (server.back() == '/') server.pop_back();
  return server;
}

// A readable, non-empty token file, checked at start so that a missing mount fails with its
// path instead of as a 401 later.
absl::Status CheckTokenFile(const std::string& path, std::string_view where) {
  absl::StatusOr<std::string> token = ReadSmallFile(path, kMaxConfigFileBytes);
  if (!token.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(where), ": token file: ", token.status().message()));
  }
  if (absl::StripAsciiWhitespace(*token).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(where), ": token file ", path, " is empty"));
  }
  return absl::OkStatus();
}

// --- kubeconfig -------------------------------------------------------------------------------

class Kubeconfig {
 public:
  explicit Kubeconfig(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<KubeClientConfig> Resolve() {
    absl::StatusOr<std::string> text = ReadSmallFile(path_, kMaxConfigFileBytes);
    if (!text.ok()) return Error(absl::StrCat("cannot read: ", text.status().message()));
    // yaml-cpp reports every problem by throwing; none of it leaves this function.
    try {
      return ResolveYaml(YAML::Load(*text));
    } catch (const YAML::Exception& e) {
      return Error(absl::StrCat("bad YAML: ", e.what()));
    } catch (const std::exception& e) {
      return Error(e.what());
    }
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("--kubeconfig ", path_, ": ", AsAbsl(what)));
  }

  // A scalar field as a string; "" when absent or null.
  static std::string Scalar(const YAML::Node& node, const char* key) {
    const YAML::Node field = node[key];
    if (!field.IsDefined() || field.IsNull()) return "";
    if (!field.IsScalar())
      throw YAML::Exception(field.Mark(), absl::StrCat(key, " is not a scalar"));
    return field.as<std::string>();
  }

  // The `section` entry (clusters, users, contexts) called `name`: its inner map.
  absl::StatusOr<YAML::Node> Named(const YAML::Node& root, const char* section, const char* inner,
                                   const std::string& name) const {
    const YAML::Node list = root[section];
    if (list.IsDefined() && list.IsSequence()) {
      for (const YAML::Node& entry : list) {
        if (entry.IsMap() && Scalar(entry, "name") == name) {
          const YAML::Node body = entry[inner];
          if (!body.IsDefined() || body.IsNull()) return YAML::Node(YAML::NodeType::Map);
          if (!body.IsMap()) return Error(absl::StrCat(section, " \"", name, "\" is not a map"));
          return body;
        }
      }
    }
    return Error(absl::StrCat("no ", section, " entry named \"", name, "\""));
  }

  std::string Resolved(const std::string& file) const {
    const std::filesystem::path p(file);
    if (p.is_absolute()) return file;
    return (std::filesystem::path(path_).parent_path() / p).string();
  }

  // `data_key` (base64) or `file_key` (a path), as PEM or token text; "" when neither.
  absl::StatusOr<std::string> DataOrFile(const YAML::Node& node, const char* data_key,
                                         const char* file_key) const {
    const std::string data = Scalar(node, data_key);
    if (!data.empty()) {
      std::string decoded;
      if (!absl::Base64Unescape(data, &decoded)) {
        return Error(absl::StrCat(data_key, " is not base64"));
      }
      return decoded;
    }
    const std::string file = Scalar(node, file_key);
    if (file.empty()) return std::string();
    absl::StatusOr<std::string> text = ReadSmallFile(Resolved(file), kMaxConfigFileBytes);
    if (!text.ok()) return Error(absl::StrCat(file_key, ": ", text.status().message()));
    return text;
  }

  absl::StatusOr<KubeClientConfig> ResolveYaml(const YAML::Node& root) const {
    if (!root.IsMap()) return Error("not a kubeconfig (the top level is not a map)");
    const std::string context_name = Scalar(root, "current-context");
    if (context_name.empty()) return Error("no current-context");
    absl::StatusOr<YAML::Node> context = Named(root, "contexts", "context", context_name);
    if (!context.ok()) return context.status();
    const std::string cluster_name = Scalar(*context, "cluster");
    const std::string user_name = Scalar(*context, "user");
    if (cluster_name.empty()) {
      return Error(absl::StrCat("context \"", context_name, "\" names no cluster"));
    }
    absl::StatusOr<YAML::Node> cluster = Named(root, "clusters", "cluster", cluster_name);
    if (!cluster.ok()) return cluster.status();

    KubeClientConfig config;
    config.source = absl::StrCat("kubeconfig ", path_, " (context ", context_name, ")");
    const std::string ns = Scalar(*context, "namespace");
    if (!ns.empty()) config.default_namespace = ns;

    absl::StatusOr<std::string> server =
        NormalizeServer(Scalar(*cluster, "server"), absl::StrCat("--kubeconfig ", path_));
    if (!server.ok()) return server.status();
    config.server = *std::move(server);
    for (const char* unsupported : {"tls-server-name", "proxy-url"}) {
      if (!Scalar(*cluster, unsupported).empty()) {
        return Error(
            absl::StrCat("cluster \"", cluster_name, "\": ", unsupported, " is not supported"));
      }
    }
    const YAML::Node insecure = (*cluster)["insecure-skip-tls-verify"];
    config.insecure_skip_tls_verify =
        insecure.IsDefined() && !insecure.IsNull() && insecure.as<bool>();
    absl::StatusOr<std::string> ca =
        DataOrFile(*cluster, "certificate-authority-data", "certificate-authority");
    if (!ca.ok()) return ca.status();
    config.ca_pem = *std::move(ca);

    if (user_name.empty()) return config;  // anonymous, or a proxy that adds credentials
    absl::StatusOr<YAML::Node> user = Named(root, "users", "user", user_name);
    if (!user.ok()) return user.status();
    for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
      if ((*user)[unsupported].IsDefined() && !(*user)[unsupported].IsNull()) {
        return Error(absl::StrCat("user \"", user_name, "\": ", unsupported,
                                  " credentials are not supported; use a token, a token file or "
                                  "a client certificate"));
      }
    }
    config.bearer_token = Scalar(*user, "token");
    const std::string token_file = Scalar(*user, "tokenFile");
    if (config.bearer_token.empty() && !token_file.empty()) {
      config.token_file = Resolved(token_file);
      if (absl::Status s = CheckTokenFile(config.token_file, absl::StrCat("--kubeconfig ", path_));
          !s.ok()) {
        return s;
      }
    }
    absl::StatusOr<std::string> cert =
        DataOrFile(*user, "client-certificate-data", "client-certificate");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = DataOrFile(*user, "client-key-data", "client-key");
    if (!key.ok()) return key.status();
    if (cert->empty() != key->empty()) {
      return Error(absl::StrCat("user \"", user_name,
                                "\": a client certificate needs both the certificate and the key"));
    }
    config.client_certificate_pem = *std::move(cert);
    config.client_key_pem = *std::move(key);
    return config;
  }

  std::string path_;
};

}  // namespace

absl::StatusOr<KubeClientConfig> ConfigFromKubeApiFlag(std::string_view url,
                                                       const ResolveOptions& options) {
  absl::StatusOr<std::string> server = NormalizeServer(url, "--kube-api");
  if (!server.ok()) return server.status();
  KubeClientConfig config;
  config.server = *std::move(server);
  config.source = absl::StrCat("--kube-api ", config.server);
  if (!options.kube_api_token_file.empty()) {
    config.token_file = options.kube_api_token_file;
    if (absl::Status s = CheckTokenFile(config.token_file, "--kube-api"); !s.ok()) return s;
  }
  return config;
}

absl::StatusOr<KubeClientConfig> ConfigFromKubeconfig(const std::string& path) {
  return Kubeconfig(path).Resolve();
}

absl::StatusOr<KubeClientConfig> InClusterConfig(const ResolveOptions& options) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    return absl::FailedPreconditionError(
        "no cluster API configured: --kube-api and --kubeconfig are empty and "
        "KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not running in a pod)");
  }
  KubeClientConfig config;
  config.source = "in-cluster";
  const std::string_view h(host);
  config.server = h.find(':') != std::string_view::npos
                      ? absl::StrCat("https://[", host, "]:", port)
                      : absl::StrCat("https://", host, ":", port);
  const std::string dir = options.service_account_dir;
  absl::StatusOr<std::string> ca = ReadSmallFile(dir + "/ca.crt", kMaxConfigFileBytes);
  if (!ca.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("in-cluster: ", ca.status().message()));
  }
  config.ca_pem = *std::move(ca);
  config.token_file = dir + "/token";
  if (absl::Status s = CheckTokenFile(config.token_file, "in-cluster"); !s.ok()) return s;
  // Every pod has the namespace file; without one, client-go's "default" is the least surprise.
  absl::StatusOr<std::string> ns = ReadSmallFile(dir + "/namespace", kMaxConfigFileBytes);
  if (ns.ok()) {
    const absl::string_view trimmed = absl::StripAsciiWhitespace(*ns);
    if (!trimmed.empty()) config.default_namespace = std::string(trimmed);
  }
  return config;
}

absl::StatusOr<KubeClientConfig> ResolveConfig(std::string_view kube_api_flag,
                                               std::string_view kubeconfig_flag,
                                               const ResolveOptions& options) {
  if (!kube_api_flag.empty() && !kubeconfig_flag.empty()) {
    return absl::InvalidArgumentError("--kube-api and --kubeconfig are exclusive; give one");
  }
  if (!kube_api_flag.empty()) return ConfigFromKubeApiFlag(kube_api_flag, options);
  if (!kubeconfig_flag.empty()) return ConfigFromKubeconfig(std::string(kubeconfig_flag));
  return InClusterConfig(options);
}

}  // namespace drover::kube
