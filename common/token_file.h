// A bearer token kept in a file (a mounted Kubernetes Secret), re-read when the file changes so
// that a rotated Secret takes effect without a restart, and compared in constant time.
//
//   absl::StatusOr<std::unique_ptr<TokenFile>> admin =
//   TokenFile::Open("/var/run/drover/admin/token"); if (!admin.ok()) exit with the error; //
//   missing or empty at start: an error if (!(*admin)->Matches(presented)) return UNAUTHENTICATED;
//
// The file's first line is the token (surrounding whitespace ignored). The file is checked for
// changes at most once a second; if it later becomes unreadable or empty, the last good token
// stays in force and one line is logged.
#ifndef DROVER_COMMON_TOKEN_FILE_H_
#define DROVER_COMMON_TOKEN_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace drover {

class TokenFile {
 public:
  static absl::StatusOr<std::unique_ptr<TokenFile>> Open(std::string path);

  // Whether `presented` is the current token; constant time in the token's length.
  bool Matches(std::string_view presented);
  // The current token (for a client that presents it).
  std::string Current();
  const std::string& path() const { return path_; }

  // "Bearer <token>" -> "<token>"; "" when the header is not a bearer credential.
  static std::string_view BearerToken(std::string_view authorization);

 private:
  explicit TokenFile(std::string path) : path_(std::move(path)) {}
  void MaybeReload() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  int64_t stamp_ ABSL_GUARDED_BY(mu_) = 0;  // mtime ns ^ size ^ inode of the last read
  absl::Time checked_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace drover

#endif  // DROVER_COMMON_TOKEN_FILE_H_
