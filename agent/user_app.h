#ifndef TETHER_AGENT_USER_APP_H_
#define TETHER_AGENT_USER_APP_H_

// The team's own program beside Tether's workers, or instead of them: the
// server of sidecar mode (ServiceSpec.app), or the main program of a pod
// that must complete (an injected Job). It reads the code Tether syncs, and
// is told when it changed.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/child_process.h"

namespace tether::agent {

/// What the agent does with a revision for the team's program (in sidecar
/// mode instead of starting workers on it). The code puller has pointed
/// `<workdir>/current` at the revision (sync/revision_builder.h); the server
/// reads it there (TETHER_CODE_DIR). Publish:
///  - points `current` at the revision again (a restarted agent may have
///    pulled a newer one it never served);
///  - runs the reload command in the revision after every change of code,
///    not on the first Publish: the server starts on that code, and a native
///    sidecar's first load happens before the server exists;
///  - starts the server (when this agent runs it: the local backend) on the
///    first Publish, so it never starts without its code.
///
/// The server's working directory is the revision it started on
/// (`app_revision`, which the agent keeps on disk while it runs); it gets
/// PORT (when `app_port` is set) and TETHER_CODE_DIR, and the agent's stdout
/// and stderr. When it exits by itself `on_app_exit` is told: the agent
/// stops with its exit status, so a Job's pod completes with the program's
/// result and a server's replica is restarted (by the kubelet or the local
/// backend).
///
/// Thread-safe. Publish must run on a thread that lives as long as the
/// server (its parent-death signal fires when that thread ends).
class UserApp final {
 public:
  struct Options {
    /// The agent's workdir (revisions and `current`).
    std::string workdir;
    /// Run after each change of code (exec form); empty: none.
    std::vector<std::string> reload_command;
    /// A reload command still running after this is killed and fails the
    /// revision.
    absl::Duration reload_timeout = absl::Minutes(1);
    /// The server (exec form); empty: it runs elsewhere (its own container).
    std::vector<std::string> app_command;
    /// The server's port, its PORT variable.
    int app_port = 0;
    /// How long the server has to exit after SIGTERM when the agent stops.
    absl::Duration stop_grace = absl::Seconds(5);
    /// Told (on a thread of the app's own) when the server exits by itself.
    std::function<void(const ProcessExit&)> on_app_exit;
  };

  /// INVALID_ARGUMENT when a command's program is empty or not found.
  static absl::StatusOr<std::unique_ptr<UserApp>> Create(Options options);
  /// Stops the server: SIGTERM to its process group, SIGKILL after
  /// `stop_grace`.
  ~UserApp();

  UserApp(const UserApp&) = delete;
  UserApp& operator=(const UserApp&) = delete;

  /// Serves `revision` (built in the workdir). FAILED_PRECONDITION with the
  /// reload command's exit and the tail of its output when it fails or
  /// times out; the error of starting the server otherwise.
  absl::Status Publish(const std::string& revision);

  /// The revision the server's working directory is; empty before it
  /// starts or without a server.
  std::string app_revision() const;

  /// `<workdir>/current`: where the server reads the code.
  std::string code_dir() const;

 private:
  explicit UserApp(Options options) : options_(std::move(options)) {}
  absl::Status RunReloadCommand(const std::string& revision);
  absl::Status StartApp(const std::string& revision);
  // Waits for the server, reaps it and tells on_app_exit.
  void AwaitApp(pid_t pid);

  const Options options_;
  // Resolved programs of reload_command and app_command.
  std::string reload_program_;
  std::string app_program_;

  mutable absl::Mutex mu_;
  bool published_ ABSL_GUARDED_BY(mu_) = false;
  std::string app_revision_ ABSL_GUARDED_BY(mu_);
  // The server's pid while it is not reaped; -1 otherwise.
  pid_t app_pid_ ABSL_GUARDED_BY(mu_) = -1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread app_waiter_;
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_USER_APP_H_
