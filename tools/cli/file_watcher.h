#ifndef TETHER_TOOLS_CLI_FILE_WATCHER_H_
#define TETHER_TOOLS_CLI_FILE_WATCHER_H_

// The seam between `tether dev` and the file system's change notifications:
// an interface, the inotify implementation (inotify_watcher.h) and a scripted
// fake for tests (fake_file_watcher.h).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tether::cli {

/// What to watch.
struct WatchSpec {
  /// Absolute, symlink-free directory watched recursively. Paths the upload
  /// leaves out (sync/ignore.h: .gitignore, .tetherignore, .git,
  /// __pycache__, *.pyc) are neither watched nor reported, so bytecode and
  /// ignored editor files cause no events.
  std::string root;
  /// Absolute files reported whatever the ignore rules say (the service
  /// file). Their directories are watched rather than the files, so an
  /// editor that saves by renaming a new file over the old one is seen.
  std::vector<std::string> files;
};

struct WatchEvent {
  enum class Kind {
    /// `path` was created, written, deleted, renamed or had its mode changed.
    kChanged,
    /// Events were lost (the kernel queue overflowed); the watcher has
    /// rescanned its directories, and anything under the root may have
    /// changed. `path` is the root.
    kOverflow,
  };
  Kind kind = Kind::kChanged;
  /// Absolute path: `root + "/" + relative path`, `root` itself when the
  /// root was deleted or created, or one of `WatchSpec::files`.
  std::string path;
  /// The first event for `path` in its batch made it appear (created, or
  /// renamed into place). A path created and gone again by the time anyone
  /// looks was a temporary file (vim's "4913", sed -i's, "file~" backups).
  bool created = false;

  friend bool operator==(const WatchEvent& a, const WatchEvent& b) {
    return a.kind == b.kind && a.path == b.path && a.created == b.created;
  }
};

/// Reports changes under a WatchSpec.
///
/// Thread-safety: Wait is called by one thread at a time; Wake may be called
/// from any thread, concurrently with Wait.
class FileWatcher {
 public:
  virtual ~FileWatcher() = default;

  /// Blocks until changes are available, `timeout` passes
  /// (absl::InfiniteDuration() for no limit) or Wake is called, and returns
  /// the changes in the order they happened, each path once (none on
  /// timeout or wake).
  /// New directories are watched before Wait returns their event; a deleted
  /// and recreated directory, the root included, is watched again.
  /// Errors mean watching cannot go on (e.g. RESOURCE_EXHAUSTED when the
  /// system's watch limit is reached).
  virtual absl::StatusOr<std::vector<WatchEvent>> Wait(
      absl::Duration timeout) = 0;

  /// Makes the Wait in progress, or the next one, return promptly.
  virtual void Wake() = 0;
};

/// Makes the watcher for a spec; `tether dev` calls it again when the
/// service file moves the code directory.
using FileWatcherFactory =
    std::function<absl::StatusOr<std::unique_ptr<FileWatcher>>(
        const WatchSpec& spec)>;

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_FILE_WATCHER_H_
