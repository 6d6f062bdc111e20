// droverctl: parses the command line and runs one command against the controller's Admin
// service. See docs/droverctl.md.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/cli.h"
#include "common/strings.h"
#include "droverctl/commands.h"
#include "droverctl/connection.h"
#include "droverctl/usage.h"
#include "droverctl/workload.h"
#include "grpc/support/log.h"

// Global flags (usage.cc's GlobalFlags lists them).
ABSL_FLAG(std::string, addr, "127.0.0.1:7000",
          "The controller's gRPC address, HOST:PORT; default: $DROVER_ADDR, else "
          "127.0.0.1:7000.");
ABSL_FLAG(std::string, token_file, "",
          "File whose first line is the controller's admin token, sent as `authorization: "
          "Bearer <token>`; default: the token in $DROVER_TOKEN.");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA that signed the controller's certificate: connect with TLS.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for mTLS, with --tls-key (TLS with the system's roots when "
          "--tls-ca is not given).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name the controller's certificate must carry when --addr does not show it, e.g. "
          "through kubectl port-forward.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "Deadline of each call (0: none); restart's progress stream has none.");
ABSL_FLAG(bool, json, false,
          "Print the reply in protobuf's JSON mapping; restart and status --watch print one "
          "object per line.");
ABSL_FLAG(std::string, namespace, "",
          "-n: the namespace of the members or the workload; default: the controller's own.");
// status
ABSL_FLAG(bool, watch, false, "status: refresh in place until Ctrl-C (exit 0).");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(2), "status --watch: time between refreshes.");
ABSL_FLAG(int64_t, watch_count, 0,
          "status: refresh this many times, then exit (implies --watch; 0: until Ctrl-C).");
// members
ABSL_FLAG(std::string, group, "",
          "members: only this app group (app.kubernetes.io/name); default: every group.");
// scale
ABSL_FLAG(int32_t, replicas, -1,
          "scale: the new number of replicas (0 or more); without it, print the current "
          "scale.");
// restart
ABSL_FLAG(bool, all, false, "restart: every member of the namespace, one at a time.");
ABSL_FLAG(absl::Duration, member_timeout, absl::ZeroDuration(),
          "restart: the longest one member's reload may take (0: the controller's default, "
          "5m).");

namespace {

constexpr char kProgram[] = "droverctl";

[[noreturn]] void Die(const std::string& message) { drover::ExitUsage(kProgram, message); }

drover::ctl::FlagKind LookupFlag(std::string_view name) {
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(drover::AsAbsl(name));
  if (flag == nullptr) return drover::ctl::FlagKind::kUnknown;
  return flag->IsOfType<bool>() ? drover::ctl::FlagKind::kBool : drover::ctl::FlagKind::kValue;
}

// gRPC logs connection failures on its own; droverctl reports each failure once, in its own
// words. GRPC_VERBOSITY, when set, brings gRPC's logs back for debugging.
void QuietGrpcLogs() {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function([](gpr_log_func_args*) {});
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

int main(int argc, char** argv) {
  QuietGrpcLogs();
  if (std::string env_addr = Env("DROVER_ADDR"); !env_addr.empty()) {
    absl::SetFlag(&FLAGS_addr, env_addr);  // --addr on the command line still wins
  }

  std::vector<std::string> args =
      drover::ctl::ExpandShortFlags(std::vector<std::string>(argv + 1, argv + argc));
  drover::ctl::ScannedArgs scan = drover::ctl::ScanArgs(args, LookupFlag);
  const drover::ctl::CommandSpec* command =
      scan.positional.empty() ? nullptr : drover::ctl::FindCommand(scan.positional[0]);
  if (scan.help && command != nullptr) {
    std::fputs(drover::ctl::CommandHelp(*command).c_str(), stdout);
    return 0;
  }

  std::vector<char*> expanded = {argv[0]};
  for (std::string& arg : args) expanded.push_back(arg.data());
  std::vector<std::string> positional =
      drover::ParseFlagsOrExit(static_cast<int>(expanded.size()), expanded.data(),
                               {.program = kProgram,
                                .flag_dir = "droverctl/",
                                .usage = drover::ctl::MainUsage(),
                                .allow_positional = true});
  if (positional.empty()) {
    Die("missing command: status, members, scale, drain, undrain or restart (see --help)");
  }
  command = drover::ctl::FindCommand(positional[0]);
  if (command == nullptr) {
    Die(absl::StrCat("unknown command '", positional[0],
                     "': use status, members, scale, drain, undrain or restart (see --help)"));
  }
  std::vector<std::string> command_args(positional.begin() + 1, positional.end());
  if (absl::Status ok = drover::ctl::CheckCommandLine(*command, scan.flags, command_args.size());
      !ok.ok()) {
    Die(std::string(ok.message()));
  }

  drover::ctl::ConnectionFlags connection_flags;
  connection_flags.address = absl::GetFlag(FLAGS_addr);
  connection_flags.token_file = absl::GetFlag(FLAGS_token_file);
  connection_flags.env_token = Env("DROVER_TOKEN");
  connection_flags.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  connection_flags.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  connection_flags.tls_key = absl::GetFlag(FLAGS_tls_key);
  connection_flags.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  connection_flags.timeout = absl::GetFlag(FLAGS_timeout);
  if (connection_flags.address.empty()) Die("--addr is empty (HOST:PORT of the controller)");
  if (connection_flags.timeout < absl::ZeroDuration()) Die("--timeout must not be negative");
  absl::StatusOr<drover::ctl::ConnectionOptions> connection_options =
      drover::ctl::ResolveConnectionOptions(connection_flags);
  if (!connection_options.ok()) Die(std::string(connection_options.status().message()));
  std::unique_ptr<drover::ctl::Connection> connection =
      drover::ctl::Connection::Create(*connection_options);

  drover::ctl::Session session{.connection = connection.get(),
                               .namespace_name = absl::GetFlag(FLAGS_namespace),
                               .json = absl::GetFlag(FLAGS_json)};
  const std::string_view name = command->name;
  if (name == "status") {
    drover::ctl::WatchOptions watch;
    watch.count = absl::GetFlag(FLAGS_watch_count);
    watch.watch = absl::GetFlag(FLAGS_watch) || watch.count > 0;
    watch.interval = absl::GetFlag(FLAGS_interval);
    if (watch.count < 0) Die("--watch-count must be 0 or more");
    if (watch.interval <= absl::ZeroDuration()) Die("--interval must be more than 0");
    return drover::ctl::RunStatus(session, watch);
  }
  if (name == "members") return drover::ctl::RunMembers(session, absl::GetFlag(FLAGS_group));
  if (name == "scale") {
    absl::StatusOr<drover::ctl::Workload> workload = drover::ctl::ParseWorkload(command_args[0]);
    if (!workload.ok()) Die(absl::StrCat("scale: ", workload.status().message()));
    std::optional<int32_t> replicas;
    if (std::find(scan.flags.begin(), scan.flags.end(), "replicas") != scan.flags.end()) {
      replicas = absl::GetFlag(FLAGS_replicas);
      if (*replicas < 0) Die("--replicas must be 0 or more");
    }
    return drover::ctl::RunScale(session, *workload, replicas);
  }
  if (name == "drain" || name == "undrain") {
    return drover::ctl::RunDrain(session, command_args[0], name == "drain");
  }
  // restart
  drover::ctl::RestartTarget target;
  target.all = absl::GetFlag(FLAGS_all);
  target.member = command_args.empty() ? "" : command_args[0];
  target.member_timeout = absl::GetFlag(FLAGS_member_timeout);
  if (target.all && !target.member.empty()) {
    Die("restart: name one member or give --all, not both");
  }
  if (!target.all && target.member.empty()) {
    Die("restart: name a member (droverctl restart POD) or give --all for every member");
  }
  if (target.member_timeout < absl::ZeroDuration() || target.member_timeout > absl::Hours(24)) {
    Die("--member-timeout must be between 0 and 24h");
  }
  return drover::ctl::RunRestart(session, target);
}
