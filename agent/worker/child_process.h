#ifndef TETHER_AGENT_WORKER_CHILD_PROCESS_H_
#define TETHER_AGENT_WORKER_CHILD_PROCESS_H_

// Starting the agent's helper processes (workers, zygotes): fork + exec with
// one end of a socketpair on fd 3, and the signalling rules they share.

#include <sys/socket.h>
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tether::agent {

/// What to run.
struct ChildSpec {
  std::string executable;
  /// argv[0] included.
  std::vector<std::string> argv;
  /// Set in the child on top of the agent's own environment (these win).
  std::vector<std::pair<std::string, std::string>> env;
  /// SOCK_STREAM for workers (framed byte stream), SOCK_SEQPACKET for
  /// zygotes (packets that carry file descriptors).
  int socket_type = SOCK_STREAM;
};

/// A started child. The fds belong to the caller.
struct SpawnedChild {
  pid_t pid = -1;
  /// The agent's end of the socketpair (close-on-exec).
  int sock = -1;
  /// pidfd of the child, or -1 on kernels without pidfd_open (< 5.3).
  int pidfd = -1;
};

/// Forks and execs `spec`: the child's end of a new socketpair is its fd 3
/// (kWorkerFd), stdin is /dev/null, stdout/stderr are the agent's, every
/// other fd is closed; default signal dispositions and an empty mask; its
/// own process group; PR_SET_PDEATHSIG=SIGKILL.
///
/// PDEATHSIG fires when the *thread* that forked exits, so call this on a
/// thread that lives as long as the child. Errors: the errno status of
/// socketpair, pipe, fork or exec (a child whose exec failed is reaped).
/// Thread-safe.
absl::StatusOr<SpawnedChild> SpawnChild(const ChildSpec& spec);

/// "code 1", "signal 9" for a waitpid(2) status.
std::string DescribeExit(int wait_status);

/// Sends `sig` to the process group `pid` leads, or to `pid` alone if it
/// left its group. Only for a child of this process that is not reaped yet
/// (else the ids may have been recycled).
void SignalGroup(pid_t pid, int sig);

/// pidfd_send_signal(2): signals exactly the process `pidfd` refers to,
/// whoever its parent is. False when it failed (e.g. the process is gone).
bool SignalPidfd(int pidfd, int sig);

}  // namespace tether::agent

#endif  // TETHER_AGENT_WORKER_CHILD_PROCESS_H_
