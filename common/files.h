// Reading the small configuration files the sidecar watches (cookie secrets, member tables),
// with a size limit so a wrong path (a log, a device) fails clearly instead of eating memory.
//
//   absl::StatusOr<std::string> text = drover::ReadSmallFile("/etc/drover/peers", 4 << 20);
#ifndef DROVER_COMMON_FILES_H_
#define DROVER_COMMON_FILES_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace drover {

// The whole file, or an error naming `path`: unreadable, or larger than `limit` bytes.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t limit);

}  // namespace drover

#endif  // DROVER_COMMON_FILES_H_
