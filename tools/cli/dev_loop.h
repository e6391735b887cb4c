#ifndef TETHER_TOOLS_CLI_DEV_LOOP_H_
#define TETHER_TOOLS_CLI_DEV_LOOP_H_

// `tether dev` without the command line: deploy, watch, debounce, redeploy.

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "servicespec/service_file.h"
#include "tether/v1/service.pb.h"
#include "tools/cli/deployer.h"
#include "tools/cli/file_watcher.h"

namespace tether::cli {

struct DevLoopOptions {
  /// The service file as given on the command line; re-read on every
  /// redeploy, and messages name it so.
  std::string spec_path;
  /// --code: absolute directory used instead of the file's `code:`; empty
  /// for none.
  std::string code_override;
  /// Quiet time after the last change before redeploying, so an editor's
  /// burst of events for one save makes one deploy.
  absl::Duration debounce = absl::Milliseconds(100);
  /// Longest a steady stream of changes may hold a redeploy back.
  absl::Duration max_delay = absl::Seconds(2);
  /// Makes the watcher for the code directory and the service file
  /// (InotifyWatcher::Create in `tether dev`). Required.
  FileWatcherFactory new_watcher;
  /// Debounce deadlines, "[HH:MM:SS]" stamps and "ready in" times.
  std::function<absl::Time()> now = [] { return absl::Now(); };
  absl::TimeZone time_zone = absl::LocalTimeZone();
  /// Progress, one line per redeploy, and errors. Required.
  std::ostream* out = nullptr;
};

/// Deploys a service, then redeploys it whenever its code directory or its
/// service file changes, until stopped.
///
/// Every redeploy takes the service file and the code as they are on disk
/// then (two steps: read and validate, then apply); an invalid file is
/// reported and nothing is deployed until it is fixed, and a deploy that
/// fails (say, an import error) is reported while the old revision keeps
/// serving. A redeploy whose revision and spec equal the last successful
/// deploy is skipped silently: a change that the upload ignores, or an
/// editor's temporary file already gone again, changes nothing.
///
/// Thread-safety: Run on one thread; RequestStop from any.
class DevLoop {
 public:
  /// `file` is the service file as already loaded (`tether dev` checks it
  /// before dialing tetherd); `deployer` must outlive the loop. Starts
  /// watching at once, so changes made during the first deploy are seen.
  /// INVALID_ARGUMENT for missing options; errors of `new_watcher`.
  static absl::StatusOr<std::unique_ptr<DevLoop>> Create(
      DevLoopOptions options, servicespec::ServiceFile file,
      Deployer* deployer);

  /// Deploys, then watches and redeploys until RequestStop. Deploy and
  /// upload failures are printed, never returned. OK once stopped; an
  /// error only when the watcher fails (then watching cannot go on).
  absl::Status Run();

  /// Makes Run return soon: wakes the watcher and cancels a deploy in
  /// flight (tetherd carries on with it). Before Run, Run returns at once.
  void RequestStop();

 private:
  // A deploy sent to tetherd, to skip sending the same one again.
  struct Attempt {
    std::string revision;
    tether::v1::ServiceSpec spec;
    bool ok = false;
  };

  DevLoop(DevLoopOptions options, servicespec::ServiceFile file,
          std::string spec_abs, Deployer* deployer);

  bool stopping();
  // Replaces the watcher with one for `code_dir` and the service file.
  absl::Status Watch(const std::string& code_dir);
  void InitialDeploy();
  // Records changes and moves the debounce deadline.
  void Note(const std::vector<WatchEvent>& events);
  void Redeploy();
  absl::StatusOr<sync::UploadResult> Upload(const std::string& code_dir);
  // "app.py" for files in the code directory, the service file as given.
  std::string DisplayPath(const std::string& path) const;
  // "app.py, util.py changed"; temporary files (created and gone again)
  // are left out.
  std::string DescribeChanges() const;
  // "<prefix><summary>: <message>", or the message's lines indented below.
  void Report(absl::string_view prefix, absl::string_view summary,
              absl::string_view message);

  const DevLoopOptions options_;
  // The service file's absolute path with its directory resolved, as the
  // watcher reports it.
  const std::string spec_abs_;
  Deployer* const deployer_;

  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // Replaced by the Run thread (under mu_), which alone calls Wait.
  std::unique_ptr<FileWatcher> watcher_ ABSL_GUARDED_BY(mu_);

  // The rest belongs to the Run thread.
  // The last file that loaded, and the code directory it names.
  servicespec::ServiceFile file_;
  std::string code_dir_;
  // The code directory `watcher_` watches.
  std::string watched_root_;
  std::optional<Attempt> last_;
  // Changes waiting for the debounce deadline, first seen first.
  struct Change {
    std::string path;
    // Its first event made it appear (WatchEvent::created).
    bool created = false;
  };
  bool pending_ = false;
  std::vector<Change> changed_;
  bool overflowed_ = false;
  absl::Time first_change_;
  absl::Time deadline_;
};

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_DEV_LOOP_H_
