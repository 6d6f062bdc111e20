#include "sidecar/supervisor/process.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

extern char** environ;

namespace drover::supervisor {

namespace {

// The symbolic names of the errors execve reports most; async-signal-safe (static strings).
const char* ExecErrorName(int error) {
  switch (error) {
    case ENOENT:
      return "ENOENT, no such file or directory";
    case EACCES:
      return "EACCES, permission denied";
    case ENOEXEC:
      return "ENOEXEC, not an executable format";
    case ENOTDIR:
      return "ENOTDIR, a path component is not a directory";
    case ELOOP:
      return "ELOOP, too many symbolic links";
    case ENAMETOOLONG:
      return "ENAMETOOLONG, file name too long";
    case E2BIG:
      return "E2BIG, argument list too long";
    case ENOMEM:
      return "ENOMEM, out of memory";
    case ETXTBSY:
      return "ETXTBSY, text file busy";
    case EPERM:
      return "EPERM, operation not permitted";
    default:
      return "error";
  }
}

// "drover-sidecar: cannot run the worker command PROGRAM: NAME, text (errno N)\n" on stderr,
// with nothing but write(2): it runs in the child of a multithreaded fork, after a failed exec.
void WriteExecFailure(const char* program, int error) {
  char digits[12];
  size_t n = sizeof(digits);
  unsigned value = error < 0 ? 0U : static_cast<unsigned>(error);
  do {
    digits[--n] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0 && n > 0);
  const char* name = ExecErrorName(error);
  const struct {
    const char* text;
    size_t size;
  } parts[] = {
      {"drover-sidecar: cannot run the worker command ", 0},
      {program, 0},
      {": ", 0},
      {name, 0},
      {" (errno ", 0},
      {digits + n, sizeof(digits) - n},
      {")\n", 0},
  };
  for (const auto& part : parts) {
    size_t size = part.size;
    if (size == 0) {
      while (part.text[size] != '\0') ++size;
    }
    [[maybe_unused]] ssize_t written = write(2, part.text, size);
  }
}

}  // namespace

absl::StatusOr<ChildProcess> SpawnWorker(const SpawnOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("empty command");
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool overridden = false;
    for (const auto& [name, value] : options.env) {
      if (entry.size() > name.size() && entry.substr(0, name.size()) == name &&
          entry[name.size()] == '=') {
        overridden = true;
      }
    }
    if (!overridden) env_strings.emplace_back(entry);
  }
  for (const auto& [name, value] : options.env)
    env_strings.push_back(absl::StrCat(name, "=", value));
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = options.argv;
  std::vector<char*> argv;
  argv.reserve(argv_strings.size() + 1);
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  // execvpe looks up PATH in the child's environment; resolve with ours first.
  std::string program = argv_strings[0];
  if (program.find('/') == std::string::npos) {
    const char* path = getenv("PATH");
    std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
    while (!dirs.empty()) {
      size_t colon = dirs.find(':');
      std::string candidate =
          absl::StrCat(std::string(dirs.substr(0, colon)), "/", argv_strings[0]);
      if (access(candidate.c_str(), X_OK) == 0) {
        program = candidate;
        break;
      }
      if (colon == std::string_view::npos) break;
      dirs.remove_prefix(colon + 1);
    }
  }
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (options.cpu) CPU_SET(*options.cpu, &cpus);

  int out[2];
  int err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe");
  if (pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    close(out[0]);
    close(out[1]);
    return absl::ErrnoToStatus(e, "pipe");
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
    return absl::ErrnoToStatus(e, "fork");
  }
  if (pid == 0) {
    // Pipes first, then drop every other descriptor, so the window in which the child holds
    // copies of the proxy's sockets is as short as it can be.
    dup2(out[1], 1);
    dup2(err[1], 2);
    close_range(3, ~0U, 0);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull > 0) {
      dup2(devnull, 0);
      close(devnull);
    }
    setpgid(0, 0);
    // A sidecar that dies without stopping its workers (SIGKILL, a crash) takes them along
    // rather than leaving them bound to their ports under init.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(128 + SIGTERM);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    if (options.cpu) sched_setaffinity(0, sizeof(cpus), &cpus);
    execve(program.c_str(), argv.data(), envp.data());
    // Only write(2) from here: strerror may allocate or take a lock another thread held at fork.
    WriteExecFailure(program.c_str(), errno);
    _exit(127);
  }
  setpgid(pid, pid);  // also here, so the group exists whichever side runs first
  close(out[1]);
  close(err[1]);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  return ChildProcess{pid, out[0], err[0]};
}

void KillGroup(pid_t pgid, int signal) {
  // Only the group: after the leader is reaped its pid may belong to someone else, and every
  // worker was put in its own group before exec.
  if (pgid > 1) kill(-pgid, signal);
}

std::optional<uint64_t> ResidentBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  if (!status) return std::nullopt;
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    uint64_t kib = 0;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits.push_back(c);
    }
    if (!absl::SimpleAtoi(digits, &kib)) return std::nullopt;
    return kib * 1024;
  }
  return 0;  // a zombie has no VmRSS line
}

}  // namespace drover::supervisor
