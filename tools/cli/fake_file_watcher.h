#ifndef TETHER_TOOLS_CLI_FAKE_FILE_WATCHER_H_
#define TETHER_TOOLS_CLI_FAKE_FILE_WATCHER_H_

// A FileWatcher for tests: replays a script of changes against a fake clock,
// so tests decide when each change arrives and no test sleeps.

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tools/cli/file_watcher.h"

namespace tether::cli {

/// The script and the clock shared by every watcher made by Factory (a
/// loop may replace its watcher mid-test).
///
/// Thread-safe; a step's action runs without the lock held, so it may call
/// back into the loop under test (e.g. RequestStop, which calls Wake).
class FakeWatchScript {
 public:
  explicit FakeWatchScript(absl::Time start) : now_(start) {}

  /// The fake time; only Wait (and Advance) move it.
  absl::Time Now() const;
  void Advance(absl::Duration duration);

  /// Appends a step: `after` this much fake time passes within Waits,
  /// `action` runs (to edit files, change canned answers, stop the loop),
  /// then the Wait in progress returns `events`. A Wait whose timeout ends
  /// first advances the clock by the timeout and returns nothing.
  void Then(absl::Duration after, std::vector<WatchEvent> events,
            std::function<void()> action = nullptr);
  /// Appends a step that makes Wait fail with `error` after `after`.
  void ThenFail(absl::Duration after, absl::Status error);

  /// Makes FakeFileWatchers reading this script and records their specs.
  FileWatcherFactory Factory();
  std::vector<WatchSpec> specs() const;
  /// Makes the factory's next call fail with `status`.
  void FailNextCreate(absl::Status status);

  /// Steps not yet delivered.
  size_t pending() const;

 private:
  friend class FakeFileWatcher;
  struct Step {
    absl::Duration after;
    std::vector<WatchEvent> events;
    std::function<void()> action;
    absl::Status error;
  };

  absl::StatusOr<std::vector<WatchEvent>> Wait(absl::Duration timeout);
  void Wake();

  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::deque<Step> steps_ ABSL_GUARDED_BY(mu_);
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar wake_;
  std::vector<WatchSpec> specs_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_next_create_ ABSL_GUARDED_BY(mu_);
};

/// A FileWatcher reading a FakeWatchScript. Thread-safe.
class FakeFileWatcher final : public FileWatcher {
 public:
  explicit FakeFileWatcher(FakeWatchScript* script) : script_(script) {}

  /// Delivers the script (see FakeWatchScript::Then). Once it is
  /// exhausted, a finite timeout passes in fake time, and an infinite one
  /// waits (in real time, at most 30 s) for Wake, then FAILED_PRECONDITION:
  /// a test ends by stopping the loop, from a step or another thread.
  absl::StatusOr<std::vector<WatchEvent>> Wait(absl::Duration timeout) override;
  void Wake() override;

 private:
  FakeWatchScript* const script_;
};

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_FAKE_FILE_WATCHER_H_
