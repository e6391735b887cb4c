#ifndef TETHER_SYNC_INDEX_CACHE_H_
#define TETHER_SYNC_INDEX_CACHE_H_

// The CLI's memory of what it last synced from one working directory to one
// tetherd, so a warm sync reads only the files that changed and sends them
// as deltas against versions tetherd already stores.
//
// One file per (absolute root, endpoint): `<dir>/<key>.index`, a
// serialized tether.v1.CodeIndex, where <dir> defaults to
// $XDG_CACHE_HOME/tether/sync or ~/.cache/tether/sync (never inside the
// user's tree) and <key> is 32 hex digits of SHA-256(root, endpoint). Per
// file it keeps the tree entry, lstat data (size, mtime, ctime, inode,
// device) and the librsync signature of the synced bytes; plus the
// revision tetherd stored, which the entries hash to.
//
// A file whose stat data match is not read again, unless it was "racy":
// modified so shortly before that scan began that a later write in the same
// timestamp tick would leave its stat data unchanged (as git's index
// does). Racy means mtime or ctime within 50 ms of the scan start (2 s for
// filesystems with whole-second timestamps).
//
// The cache only saves work: a missing, corrupt or foreign file means a
// cold scan, and a wrong base costs a retry with the full manifest, never a
// wrong revision (tetherd checks every digest and the claimed tree id).
// It is written with rename but without fsync for the same reason.

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sync/tree.h"
#include "tether/v1/code.pb.h"

namespace tether::sync {

/// Not thread-safe: one upload uses it at a time. Concurrent processes
/// syncing the same root each write a complete file; the last one wins.
class IndexCache final : public ScanCache {
 public:
  /// $XDG_CACHE_HOME/tether/sync, else $HOME/.cache/tether/sync, else ""
  /// (no cache) when neither is set to an absolute path.
  static std::string DefaultDir();

  /// The cache file of `root` (absolute) and `endpoint` under `dir`.
  static std::string FilePath(const std::string& dir, const std::string& root,
                              const std::string& endpoint);

  /// Loads the cache, or starts an empty one when there is none or it is
  /// unusable (logged). Never fails. `scan_start` is when the scan that
  /// will use it begins (call right before ScanTree); tests inject it.
  static std::unique_ptr<IndexCache> Load(std::string dir, std::string root,
                                          std::string endpoint,
                                          absl::Time scan_start = absl::Now());

  // ScanCache.
  Answer Lookup(const std::string& path, const struct stat& st) override;
  void Record(const std::string& path, const struct stat& st,
              const tether::v1::TreeEntry& entry,
              const std::string& prefix_sha256) override;

  /// The revision tetherd stored at the last sync and its tree; "" and an
  /// empty tree when unknown.
  const std::string& base_revision() const { return base_revision_; }
  const tether::v1::Tree& base_tree() const { return base_tree_; }

  /// The base's entry at `path`, or null.
  const tether::v1::TreeEntry* BaseEntry(const std::string& path) const;

  /// Signature of a blob of the base or one set since, or null.
  const std::string* Signature(absl::string_view sha256) const;

  /// Whether this scan read `path` and found the base's version of it
  /// followed by appended bytes.
  bool GrewByAppending(const std::string& path) const;

  /// Whether `st` (fstat of `path` opened to send it) still matches what
  /// this scan saw when it read the file; false when it did not read it.
  bool UnchangedSinceScan(const std::string& path, const struct stat& st) const;

  /// Remembers the signature of bytes just sent, for the next sync.
  void SetSignature(absl::string_view sha256, std::string signature);

  /// Writes the cache for `tree`, which this scan produced and tetherd now
  /// stores as `revision` ("" when the revision is not known to be
  /// TreeId(tree): stat data are kept, the base is not).
  absl::Status Save(const tether::v1::Tree& tree, const std::string& revision);

  /// Entries whose bytes Lookup vouched for in this scan; for tests.
  int hits() const { return hits_; }

 private:
  struct Stat {
    int64_t mtime_ns = -1;
    int64_t ctime_ns = -1;
    uint64_t inode = 0;
    uint64_t device = 0;
  };

  IndexCache(std::string dir, std::string root, std::string endpoint,
             absl::Time scan_start);
  void Adopt(tether::v1::CodeIndex index);

  const std::string dir_;
  const std::string root_;
  const std::string endpoint_;
  const int64_t scan_start_ns_;

  // The loaded cache.
  int64_t old_scan_start_ns_ = 0;
  std::string base_revision_;
  tether::v1::Tree base_tree_;
  absl::flat_hash_map<std::string, int> base_index_;  // path -> entry
  absl::flat_hash_map<std::string, Stat> base_stats_;
  absl::flat_hash_map<std::string, std::string> signatures_;  // by sha256

  // This scan.
  absl::flat_hash_map<std::string, Stat> scanned_;
  absl::flat_hash_map<std::string, bool> appended_;
  int hits_ = 0;
};

}  // namespace tether::sync

#endif  // TETHER_SYNC_INDEX_CACHE_H_
