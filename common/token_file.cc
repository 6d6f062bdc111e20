#include "common/token_file.h"

#include <sys/stat.h>

#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "openssl/crypto.h"

namespace drover {
namespace {

int64_t Stamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return (static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec) ^
         (static_cast<int64_t>(st.st_size) << 20) ^ static_cast<int64_t>(st.st_ino);
}

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path, 64 * 1024);
  if (!text.ok()) return text.status();
  std::string_view first(*text);
  first = first.substr(0, first.find('\n'));
  std::string token(absl::StripAsciiWhitespace(absl::string_view(first.data(), first.size())));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": the token is empty"));
  return token;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenFile>> TokenFile::Open(std::string path) {
  absl::StatusOr<std::string> token = ReadToken(path);
  if (!token.ok()) return token.status();
  std::unique_ptr<TokenFile> file(new TokenFile(std::move(path)));
  absl::MutexLock lock(&file->mu_);
  file->token_ = *std::move(token);
  file->stamp_ = Stamp(file->path_);
  file->checked_ = absl::Now();
  return file;
}

void TokenFile::MaybeReload() {
  absl::Time now = absl::Now();
  if (now - checked_ < absl::Seconds(1)) return;
  checked_ = now;
  int64_t stamp = Stamp(path_);
  if (stamp == stamp_) return;
  absl::StatusOr<std::string> token = ReadToken(path_);
  if (!token.ok()) {
    std::fprintf(stderr, "drover: token file %s: %s; keeping the previous token\n", path_.c_str(),
                 std::string(token.status().message()).c_str());
    return;
  }
  stamp_ = stamp;
  token_ = *std::move(token);
}

bool TokenFile::Matches(std::string_view presented) {
  absl::MutexLock lock(&mu_);
  MaybeReload();
  if (presented.size() != token_.size()) return false;
  return CRYPTO_memcmp(presented.data(), token_.data(), token_.size()) == 0;
}

std::string TokenFile::Current() {
  absl::MutexLock lock(&mu_);
  MaybeReload();
  return token_;
}

std::string_view TokenFile::BearerToken(std::string_view authorization) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (authorization.size() <= kPrefix.size()) return {};
  for (size_t i = 0; i < kPrefix.size(); ++i) {
    char c = authorization[i];
    char want = kPrefix[i];
    if (c != want && (c | 0x20) != (want | 0x20)) return {};
  }
  return authorization.substr(kPrefix.size());
}

}  // namespace drover
