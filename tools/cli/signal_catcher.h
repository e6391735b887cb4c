#ifndef TETHER_TOOLS_CLI_SIGNAL_CATCHER_H_
#define TETHER_TOOLS_CLI_SIGNAL_CATCHER_H_

// Ctrl-C for long-running commands (`tether dev`): a signal becomes a
// callback on an ordinary thread, where it may take locks and cancel RPCs,
// which a signal handler may not.

#include <signal.h>

#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tether::cli {

/// Thread-safe; at most one exists at a time (the handler reaches it
/// through a process-wide pipe).
class SignalCatcher {
 public:
  /// Installs handlers for `signals` (each 1..63) and calls
  /// `on_signal(signo)` on an internal thread for the first one that
  /// arrives. The handlers reset themselves when they run, so a second
  /// Ctrl-C kills the process as usual when stopping hangs.
  /// FAILED_PRECONDITION when another SignalCatcher exists; errors of
  /// pipe2 and sigaction otherwise.
  static absl::StatusOr<std::unique_ptr<SignalCatcher>> Create(
      const std::vector<int>& signals, std::function<void(int)> on_signal);

  /// Restores the previous handlers and joins the thread (after a callback
  /// in progress returns).
  ~SignalCatcher();

 private:
  SignalCatcher(int read_fd, int write_fd);

  const int read_fd_;
  const int write_fd_;
  std::vector<std::pair<int, struct sigaction>> previous_;
  std::thread thread_;
};

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_SIGNAL_CATCHER_H_
