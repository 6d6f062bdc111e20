#include "sidecar/supervisor/listener_owner.h"

#include <dirent.h>
#include <netinet/in.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace drover::supervisor {

namespace {

constexpr unsigned kTcpListen = 0x0A;         // TCP_LISTEN, the "st" column of /proc/net/tcp
constexpr unsigned kUnixAcceptCon = 0x10000;  // __SO_ACCEPTCON: a listening Unix socket

// An address as /proc/net/tcp{,6} prints it: the raw 32-bit words of the address in memory
// order, each as %08X; one word for IPv4, four for IPv6.
using Words = std::array<uint32_t, 4>;

bool ParseWords(absl::string_view hex, Words& words, size_t count) {
  if (hex.size() != 8 * count) return false;
  for (size_t i = 0; i < count; ++i) {
    std::string chunk(hex.substr(8 * i, 8));
    char* end = nullptr;
    words[i] = static_cast<uint32_t>(std::strtoul(chunk.c_str(), &end, 16));
    if (end != chunk.c_str() + 8) return false;
  }
  return true;
}

bool IsAny(const Words& w) { return w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == 0; }

// The lines of a /proc/net table after its header, split on spaces.
std::vector<std::vector<std::string>> ReadTable(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return rows;
  while (std::getline(in, line)) {
    rows.push_back(absl::StrSplit(line, ' ', absl::SkipEmpty()));
  }
  return rows;
}

// Inodes of the TCP sockets listening where a connect to `address` could land: the same
// address or a wildcard one, on its port, in either table (an IPv6 wildcard also takes IPv4).
absl::flat_hash_set<uint64_t> TcpListeners(const net::SocketAddress& address) {
  absl::flat_hash_set<uint64_t> inodes;
  const uint16_t port = address.port();
  Words v4{};  // the target as IPv4 (word 0), when it is one
  Words v6{};  // the target as IPv6 (a v4-mapped one for IPv4)
  if (address.family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(address.sockaddr_ptr());
    std::memcpy(&v4[0], &sin->sin_addr, 4);
    in6_addr mapped{};
    mapped.s6_addr[10] = 0xff;
    mapped.s6_addr[11] = 0xff;
    std::memcpy(&mapped.s6_addr[12], &sin->sin_addr, 4);
    std::memcpy(v6.data(), &mapped, 16);
  } else {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(address.sockaddr_ptr());
    std::memcpy(v6.data(), &sin6->sin6_addr, 16);
  }
  for (const bool six : {false, true}) {
    if (!six && address.family() != AF_INET) continue;
    for (const auto& row : ReadTable(six ? "/proc/net/tcp6" : "/proc/net/tcp")) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      if (row.size() < 10) continue;
      unsigned state = 0;
      if (!absl::SimpleHexAtoi(row[3], &state) || state != kTcpListen) continue;
      const std::string& local = row[1];
      const size_t colon = local.find(':');
      if (colon == std::string::npos) continue;
      unsigned local_port = 0;
      if (!absl::SimpleHexAtoi(local.substr(colon + 1), &local_port) || local_port != port) {
        continue;
      }
      Words words{};
      if (!ParseWords(absl::string_view(local).substr(0, colon), words, six ? 4 : 1)) continue;
      const Words& target = six ? v6 : v4;
      const bool target_any = six ? IsAny(v6) : v4[0] == 0;
      if (!IsAny(words) && !target_any && words != target) continue;
      uint64_t inode = 0;
      if (absl::SimpleAtoi(row[9], &inode) && inode != 0) inodes.insert(inode);
    }
  }
  return inodes;
}

absl::flat_hash_set<uint64_t> UnixListeners(const std::string& path) {
  absl::flat_hash_set<uint64_t> inodes;
  for (const auto& row : ReadTable("/proc/net/unix")) {
    // Num RefCount Protocol Flags Type St Inode Path
    if (row.size() < 8 || row[7] != path) continue;
    unsigned flags = 0;
    if (!absl::SimpleHexAtoi(row[3], &flags) || (flags & kUnixAcceptCon) == 0) continue;
    uint64_t inode = 0;
    if (absl::SimpleAtoi(row[6], &inode) && inode != 0) inodes.insert(inode);
  }
  return inodes;
}

// `worker`, its descendants, and the members of its process group (grandchildren whose parent
// died were re-parented to us, but keep the group).
std::vector<pid_t> WorkerTree(pid_t worker) {
  absl::flat_hash_map<pid_t, std::vector<pid_t>> children;
  std::vector<pid_t> tree = {worker};
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return tree;
  while (dirent* entry = readdir(proc)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid) || pid == worker) continue;
    std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // "pid (comm) state ppid pgrp ...": comm may hold anything, so count from the last ')'.
    const size_t close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(absl::string_view(text).substr(close + 1), ' ', absl::SkipEmpty());
    pid_t ppid = 0;
    pid_t pgrp = 0;
    if (fields.size() < 3 || !absl::SimpleAtoi(fields[1], &ppid) ||
        !absl::SimpleAtoi(fields[2], &pgrp)) {
      continue;
    }
    if (pgrp == worker) {
      tree.push_back(pid);
    } else {
      children[ppid].push_back(pid);
    }
  }
  closedir(proc);
  // Descendants by parent links, from the worker and from its group's members.
  for (size_t i = 0; i < tree.size(); ++i) {
    auto it = children.find(tree[i]);
    if (it == children.end()) continue;
    for (pid_t child : it->second) tree.push_back(child);
    children.erase(it);
  }
  return tree;
}

// Removes from `inodes` the sockets `pid` holds a descriptor on. False when its descriptors
// cannot be read although it exists.
bool ForgetHeld(pid_t pid, absl::flat_hash_set<uint64_t>& inodes) {
  const std::string dir = absl::StrCat("/proc/", pid, "/fd");
  DIR* fds = opendir(dir.c_str());
  if (fds == nullptr) return errno == ENOENT;  // gone: nothing to read
  bool read_all = true;
  char link[64];
  while (dirent* entry = readdir(fds)) {
    if (entry->d_name[0] == '.') continue;
    ssize_t n = readlinkat(dirfd(fds), entry->d_name, link, sizeof(link) - 1);
    // The directory may be listable while its links are not (ptrace access is checked on
    // each); ENOENT is a descriptor closed meanwhile.
    if (n < 0 && errno != ENOENT) read_all = false;
    if (n <= 0) continue;
    absl::string_view target(link, static_cast<size_t>(n));
    constexpr absl::string_view kSocket = "socket:[";
    if (target.substr(0, kSocket.size()) != kSocket || target.back() != ']') continue;
    uint64_t inode = 0;
    if (absl::SimpleAtoi(target.substr(kSocket.size(), target.size() - kSocket.size() - 1),
                         &inode)) {
      inodes.erase(inode);
    }
  }
  closedir(fds);
  return read_all;
}

}  // namespace

ListenerOwner OwnerOfListener(const net::SocketAddress& address, pid_t worker) {
  absl::flat_hash_set<uint64_t> inodes =
      address.family() == AF_UNIX ? UnixListeners(address.UnixPath()) : TcpListeners(address);
  if (inodes.empty()) return ListenerOwner::kNone;
  bool all_read = true;
  for (pid_t pid : WorkerTree(worker)) {
    all_read = ForgetHeld(pid, inodes) && all_read;
    if (inodes.empty()) return ListenerOwner::kWorker;
  }
  return all_read ? ListenerOwner::kOther : ListenerOwner::kUnknown;
}

}  // namespace drover::supervisor
