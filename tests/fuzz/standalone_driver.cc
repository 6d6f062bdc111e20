// A main() for fuzz targets when libFuzzer is not available (g++ builds): replays the seed
// corpus, then runs random mutations of it (bit flips, byte edits, inserts of HTTP tokens,
// erasures, splices) for a bounded number of iterations and seconds. No coverage feedback, but
// the same invariants run in every build, and a fixed seed makes a failure reproducible.
//
//   http_parser_fuzz --seconds=10 --iterations=2000000 --seed=1 tests/fuzz/corpus
//   http_parser_fuzz crash-input-file          # replay one input
//
// On a crash the input being run is written to ./standalone-crash-<pid> first.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// What the signal handler writes out; set before every run.
const std::string* g_current_input = nullptr;

void OnCrash(int signal) {
  if (g_current_input != nullptr) {
    char path[64];
    std::snprintf(path, sizeof(path), "standalone-crash-%d", static_cast<int>(getpid()));
    const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      (void)!write(fd, g_current_input->data(), g_current_input->size());
      close(fd);
    }
    static constexpr char kMessage[] = "standalone driver: crashing input written to ./";
    (void)!write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    (void)!write(STDERR_FILENO, path, std::string_view(path).size());
    (void)!write(STDERR_FILENO, "\n", 1);
  }
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

void Run(const std::string& input) {
  g_current_input = &input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

bool ReadFile(const std::filesystem::path& path, std::vector<std::string>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

// Fragments that steer random edits toward the parser's interesting paths.
constexpr std::string_view kTokens[] = {
    "\r\n",
    "\r",
    "\n",
    " ",
    "\t",
    ":",
    ",",
    ";",
    "=",
    "\"",
    "\\",
    std::string_view("\0", 1),
    "\x7f",
    "\xff",
    "0",
    "ffffffffffffffff",
    "0x",
    "-1",
    "HTTP/1.1",
    "HTTP/1.0",
    "HTTP/2.0",
    "Host: a\r\n",
    "Content-Length: 5\r\n",
    "Content-Length: 0\r\n",
    "Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding: gzip, chunked\r\n",
    "Connection: close, upgrade\r\n",
    "Connection: keep-alive\r\n",
    "Upgrade: websocket\r\n",
    "Expect: 100-continue\r\n",
    "0\r\n\r\n",
    "5\r\nhello\r\n",
    "\r\n\r\n",
    "GET / HTTP/1.1\r\n",
    "HTTP/1.1 200 OK\r\n",
    "HTTP/1.1 101 Switching\r\n",
    "HTTP/1.1 204 No Content\r\n",
};

class Mutator {
 public:
  Mutator(uint64_t seed, size_t max_len) : rng_(seed), max_len_(max_len) {}

  std::string Mutate(const std::vector<std::string>& corpus) {
    std::string s = corpus[Below(corpus.size())];
    const size_t edits = 1 + Below(4);
    for (size_t i = 0; i < edits; ++i) Edit(s, corpus);
    if (s.size() > max_len_) s.resize(max_len_);
    return s;
  }

 private:
  size_t Below(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }

  void Edit(std::string& s, const std::vector<std::string>& corpus) {
    const size_t pos = Below(s.size() + 1);
    switch (Below(7)) {
      case 0:  // flip a bit
        if (!s.empty()) s[Below(s.size())] ^= static_cast<char>(1u << Below(8));
        break;
      case 1:  // overwrite a byte
        if (!s.empty()) s[Below(s.size())] = static_cast<char>(Below(256));
        break;
      case 2:  // insert a token
      case 3: {
        const std::string_view token = kTokens[Below(std::size(kTokens))];
        s.insert(pos, token.data(), token.size());
        break;
      }
      case 4:  // erase a range
        if (!s.empty()) s.erase(pos, 1 + Below(8));
        break;
      case 5: {  // splice in part of another entry
        const std::string& other = corpus[Below(corpus.size())];
        const size_t from = Below(other.size() + 1);
        s.insert(pos, other, from, Below(other.size() - from + 1));
        break;
      }
      default: {  // duplicate a range
        if (s.empty()) break;
        const size_t from = Below(s.size());
        const std::string copy = s.substr(from, 1 + Below(16));
        s.insert(pos, copy);
        break;
      }
    }
  }

  std::mt19937_64 rng_;
  size_t max_len_;
};

bool Flag(std::string_view arg, std::string_view name, uint64_t& value) {
  if (!arg.starts_with(name)) return false;
  value = std::strtoull(std::string(arg.substr(name.size())).c_str(), nullptr, 10);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seconds = 10;
  uint64_t iterations = 1000000;
  uint64_t seed = 1;
  uint64_t max_len = 4096;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (Flag(arg, "--seconds=", seconds) || Flag(arg, "--iterations=", iterations) ||
        Flag(arg, "--seed=", seed) || Flag(arg, "--max_len=", max_len)) {
      continue;
    }
    if (arg.starts_with("-")) {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) ReadFile(entry.path(), corpus);
      }
    } else if (!ReadFile(arg, corpus)) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 2;
    }
  }
  for (int signal : {SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE}) {
    std::signal(signal, OnCrash);
  }

  for (const std::string& input : corpus) Run(input);
  std::printf("replayed %zu corpus inputs\n", corpus.size());
  if (corpus.empty()) corpus.emplace_back();

  Mutator mutator(seed, max_len);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  uint64_t runs = 0;
  for (; runs < iterations; ++runs) {
    if (runs % 1024 == 0 && std::chrono::steady_clock::now() >= deadline) break;
    const std::string input = mutator.Mutate(corpus);
    Run(input);
    // Without coverage feedback, keeping a few mutants still lets edits compound.
    if (runs % 97 == 0 && corpus.size() < 4096) corpus.push_back(input);
  }
  g_current_input = nullptr;
  std::printf("ran %llu mutated inputs (seed %llu), no failures\n",
              static_cast<unsigned long long>(runs), static_cast<unsigned long long>(seed));
  return 0;
}
