#ifndef TETHER_COMMON_CHILD_PROCESS_H_
#define TETHER_COMMON_CHILD_PROCESS_H_

// The one process library: starting child processes (fork + exec, with an
// optional socketpair), signalling them, and describing how they ended.

#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace tether {

/// How a process ended, from its waitpid(2) status.
struct ProcessExit {
  enum class Kind { kExited, kSignaled };

  static ProcessExit FromWaitStatus(int wait_status);

  Kind kind = Kind::kExited;
  /// The exit code (kExited) or the signal number (kSignaled).
  int code = 0;

  /// "code 1", "signal 9".
  std::string ToString() const;
  bool operator==(const ProcessExit& other) const {
    return kind == other.kind && code == other.code;
  }
};

/// What to run.
struct ChildSpec {
  std::string executable;
  /// argv[0] included.
  std::vector<std::string> argv;
  /// Set in the child on top of this process's environment (these win).
  std::vector<std::pair<std::string, std::string>> env;
  /// Type of the socketpair to the child: SOCK_STREAM (a framed byte
  /// stream), SOCK_SEQPACKET (packets that carry file descriptors), or 0 for
  /// none.
  int socket_type = SOCK_STREAM;
  /// The fd number the child's end of the socketpair gets.
  int child_fd = 3;
  /// Where the child's stdout and stderr go (appended, created if missing);
  /// empty: this process's own.
  std::string output_path;
  /// Sent to the child when the thread that forked it exits.
  int parent_death_signal = SIGKILL;
  /// The child's working directory; empty: this process's.
  std::string working_dir;
};

/// Where `program` is, as execvp finds it: a name with a '/' as it is,
/// else the first executable file of that name in $PATH. NOT_FOUND naming
/// the program otherwise. Thread-safe.
absl::StatusOr<std::string> FindProgram(const std::string& program);

/// A started child. The fds belong to the caller.
struct SpawnedChild {
  pid_t pid = -1;
  /// This process's end of the socketpair (close-on-exec), or -1 without.
  int sock = -1;
  /// pidfd of the child, or -1 on kernels without pidfd_open (< 5.3).
  int pidfd = -1;
};

/// Forks and execs `spec`: the child's end of a new socketpair (if any) is
/// its fd `child_fd`, stdin is /dev/null, stdout/stderr are ours or
/// `output_path`, every other fd is closed; default signal dispositions and
/// an empty mask; its own process group; PR_SET_PDEATHSIG.
///
/// PDEATHSIG fires when the *thread* that forked exits, so call this on a
/// thread that lives as long as the child. Errors: the errno status of
/// socketpair, open, pipe, fork or exec (a child whose exec failed is
/// reaped). Thread-safe.
absl::StatusOr<SpawnedChild> SpawnChild(const ChildSpec& spec);

/// Reaps the child `pid`, blocking until it exits.
ProcessExit WaitChild(pid_t pid);

/// Blocks until the child `pid` has exited, without reaping it (its zombie
/// keeps the process group id reserved), and SIGKILLs its group if `clock`
/// reaches `kill_deadline` first. For children without a pidfd to poll.
void AwaitExitWithoutPidfd(pid_t pid, Clock* clock, absl::Time kill_deadline);

/// Sends `sig` to the process group `pid` leads, or to `pid` alone if it
/// left its group. Only for a child of this process that is not reaped yet
/// (else the ids may have been recycled).
void SignalGroup(pid_t pid, int sig);

/// pidfd_send_signal(2): signals exactly the process `pidfd` refers to,
/// whoever its parent is. False when it failed (e.g. the process is gone).
bool SignalPidfd(int pidfd, int sig);

}  // namespace tether

#endif  // TETHER_COMMON_CHILD_PROCESS_H_
