#ifndef TETHER_SYNC_TREE_H_
#define TETHER_SYNC_TREE_H_

// Code revisions as trees: scanning a working directory, the revision id,
// and the checks every receiver applies before trusting a tree.

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tether/v1/code.pb.h"

namespace tether::sync {

/// Caps on what one revision may hold. Senders and receivers check the
/// same limits, so a tree the CLI accepts is one tetherd and agents accept.
struct TreeLimits {
  /// Entries (files and symlinks).
  uint64_t max_entries = 100'000;
  /// Bytes of one file.
  uint64_t max_file_bytes = uint64_t{1} << 30;  // 1 GiB
  /// Bytes of all files, counting every entry (equal files count each time).
  uint64_t max_total_bytes = uint64_t{16} << 30;  // 16 GiB
  /// Bytes of one path or symlink target (Linux PATH_MAX).
  uint64_t max_path_bytes = 4096;
};

/// Lets a scan skip reading files whose bytes are already known (the CLI's
/// index cache, sync/index_cache.h). Called from the scanning thread only.
class ScanCache {
 public:
  virtual ~ScanCache() = default;

  struct Answer {
    /// The bytes are known unchanged: `size` and `sha256` hold; the scan
    /// does not open the file.
    bool known = false;
    uint64_t size = 0;
    std::string sha256;
    /// Otherwise, an offset at which the scan should also report the
    /// digest of the bytes before it (the size of the previous version:
    /// equal digests mean the file only grew by appending).
    std::optional<uint64_t> prefix_offset;
  };

  /// `st` is lstat(2) of the regular file at `path` (relative).
  virtual Answer Lookup(const std::string& path, const struct stat& st) = 0;

  /// The scan read the file: `st` is fstat(2) of the open file before the
  /// first read, `entry` what the scan made of it, `prefix_sha256` the
  /// digest of its first `prefix_offset` bytes (empty when not asked for
  /// or the file is shorter).
  virtual void Record(const std::string& path, const struct stat& st,
                      const tether::v1::TreeEntry& entry,
                      const std::string& prefix_sha256) = 0;
};

struct ScanOptions {
  TreeLimits limits;
  /// Reuses digests of unchanged files; may be null (every file is read).
  ScanCache* cache = nullptr;
  /// Called with a file's path just before its bytes are read; may be
  /// empty. Tests count reads with it.
  std::function<void(const std::string& path)> on_read;
};

/// Walks `root` and returns its revision tree: files and symlinks sorted by
/// path (bytewise), without `.git`, `__pycache__`, `*.pyc` and what the
/// `.gitignore` / `.tetherignore` files (root and nested) exclude; see
/// sync/ignore.h. Directories are implied by paths, so empty ones vanish.
/// Files keep only the executable bit (mode 0644 or 0755) and carry their
/// size and raw SHA-256 as read (a file growing during the scan is hashed up
/// to where it was read). Symlinks are recorded as links, never followed;
/// an entry's filesystem path is always `root + "/" + entry.path()`. With
/// `options.cache`, files the cache knows are not read.
///
/// Errors: NOT_FOUND / PERMISSION_DENIED from the filesystem, naming the
/// path; INVALID_ARGUMENT naming the path for absolute or escaping symlinks,
/// devices, sockets and fifos, names that are not UTF-8 or hold a
/// backslash, and anything ValidateTree rejects (limits included). Ignore
/// such paths in `.tetherignore` to sync the rest.
///
/// Thread-safe (no shared state).
absl::StatusOr<tether::v1::Tree> ScanTree(const std::string& root,
                                          const ScanOptions& options);

/// Revision id of `tree`: lowercase hex SHA-256 of its canonical encoding.
///
/// Canonical encoding (version 1), all integers big-endian, fields in this
/// order, so ids never depend on protobuf serialization:
///
///   "tether.tree.v1\0"            15 bytes
///   u64 number of entries
///   per entry, in tree order:
///     u64 len(path)        path bytes
///     u8  kind             (TreeEntry.Kind value)
///     u32 mode
///     u64 size
///     u64 len(sha256)      sha256 bytes
///     u64 len(link_target) link_target bytes
///
/// Defined for any tree; only valid trees are stored.
std::string TreeId(const tether::v1::Tree& tree);

/// True for a well-formed revision id: 64 lowercase hex digits.
bool IsRevisionId(absl::string_view revision);

/// Checks that a tree is safe to materialize: entries sorted by path and
/// unique; paths relative, '/'-separated, valid UTF-8, without "", "." or
/// ".." components, NUL or backslash; no entry below a file or symlink;
/// files with a 32-byte digest, mode 0644 or 0755, no link target and equal
/// sizes for equal digests; symlinks with a relative target that resolves
/// inside the tree (following the tree's own symlinks), mode 0, size 0 and
/// no digest; counts and sizes within `limits`.
///
/// Errors: INVALID_ARGUMENT naming the first offending path. Thread-safe.
absl::Status ValidateTree(const tether::v1::Tree& tree,
                          const TreeLimits& limits);

}  // namespace tether::sync

#endif  // TETHER_SYNC_TREE_H_
