#ifndef TETHER_TOOLS_CLI_INOTIFY_WATCHER_H_
#define TETHER_TOOLS_CLI_INOTIFY_WATCHER_H_

// FileWatcher on Linux inotify: one watch per directory of the code tree
// that the upload would descend into.

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sync/ignore.h"
#include "tools/cli/file_watcher.h"

namespace tether::cli {

/// Thread-safety as FileWatcher: Wait from one thread at a time (it owns all
/// the state below), Wake from any.
class InotifyWatcher final : public FileWatcher {
 public:
  /// Watches `spec` (see WatchSpec). A missing root is not an error: it is
  /// watched for from its parent directory, and reported when it appears.
  /// INVALID_ARGUMENT for relative paths; RESOURCE_EXHAUSTED when the tree
  /// has more directories than fs.inotify.max_user_watches allows (the
  /// message says how to raise it or what to ignore); errors of
  /// inotify_init1 and eventfd otherwise.
  static absl::StatusOr<std::unique_ptr<InotifyWatcher>> Create(
      const WatchSpec& spec);

  ~InotifyWatcher() override;

  absl::StatusOr<std::vector<WatchEvent>> Wait(absl::Duration timeout) override;
  void Wake() override;

  /// Directories watched as part of the tree, relative to the root ("" for
  /// the root), sorted.
  std::vector<std::string> WatchedDirsForTest() const;

 private:
  // A watched directory. One watch can serve several roles (a tree
  // directory that also holds the service file), so roles are decided per
  // event from the path.
  struct Dir {
    // Absolute path, built from the spec's strings so event paths compare
    // equal to them.
    std::string path;
    // Whether it is part of the tree, and its path relative to the root
    // ("" for the root). Directories outside the tree are watched only for
    // the files, or the root, they contain.
    bool in_tree = false;
    std::string rel;
  };

  InotifyWatcher(const WatchSpec& spec, int inotify_fd, int wake_fd);

  // Rebuilds the ignore rules and the watch set from the file system: adds
  // watches for new directories, drops those that vanished or became
  // ignored. Also refreshes `rel` of directories that moved in the tree.
  absl::Status Rescan();
  absl::Status WalkTree(const std::string& rel, sync::IgnoreMatcher& ignore,
                        absl::flat_hash_map<int, Dir>& dirs);
  // inotify_add_watch; -1 for paths that are gone or unreadable (the upload
  // reports those), an error only for exhausted limits or memory.
  absl::StatusOr<int> AddWatch(const std::string& path);

  // What one ReadEvents call gathers.
  struct Batch {
    std::vector<WatchEvent> events;
    absl::flat_hash_set<std::string> seen_paths;
    absl::flat_hash_set<std::string> seen_overflow;
    // The watch set must be rebuilt.
    bool rescan = false;
  };

  // Adds what one raw event means to `batch`.
  void HandleEvent(int wd, uint32_t mask, absl::string_view name, Batch& batch);

  // Reads every queued event without blocking.
  absl::Status ReadEvents(std::vector<WatchEvent>& out);

  const std::string root_;
  const std::string root_parent_;
  const absl::flat_hash_set<std::string> files_;
  const int inotify_fd_;
  // Written by Wake, so a Wait blocked in poll returns.
  const int wake_fd_;
  absl::flat_hash_map<int, Dir> dirs_;
  sync::IgnoreMatcher ignore_;
};

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_INOTIFY_WATCHER_H_
