#ifndef TETHER_COMMON_FILES_H_
#define TETHER_COMMON_FILES_H_

// File helpers with the durability rules state files need: a reader sees the
// old contents or the new, never a torn file, even after kill -9 or power loss.

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether {

/// Writes `contents` to a temporary file beside `path` (created with
/// `mode`, so a secret is never readable by others), fsyncs it, renames it
/// over `path` and fsyncs the directory.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents,
                                 mode_t mode = 0644);

/// Writes all of `data` to `fd`, retrying short writes and EINTR; `path`
/// names the file in errors.
absl::Status WriteAll(int fd, absl::string_view data, absl::string_view path);

/// Reads a whole file. NOT_FOUND when it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);

/// Reads the last `max_bytes` of a file (all of a smaller one), e.g. the end
/// of a log that keeps growing. NOT_FOUND when it does not exist.
absl::StatusOr<std::string> ReadFileTail(const std::string& path,
                                         size_t max_bytes);

/// mkdir -p. OK when the directory already exists.
absl::Status MakeDirs(const std::string& path);

/// Names in directory `path`, without "." and "..", in no order.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path);

/// rm -rf. OK when nothing is there.
absl::Status RemoveAll(const std::string& path);

/// fsync on a directory, so renames and links in it are durable.
absl::Status SyncDir(const std::string& path);

/// syncfs(2) of the filesystem holding directory `dir`: one call makes many
/// files written there durable.
absl::Status SyncFilesystemOf(const std::string& dir);

/// Status for a failed system call: maps errno to a code, names the call
/// and the path.
absl::Status ErrnoStatus(int err, absl::string_view what,
                         absl::string_view path);

}  // namespace tether

#endif  // TETHER_COMMON_FILES_H_
