#include "agent/worker/child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/worker/worker_protocol.h"
#include "common/exec_args.h"
#include "common/files.h"

namespace tether::agent {
namespace {

struct ChildSetup {
  const char* executable;
  char* const* argv;
  char* const* envp;
  int sock;
  int err_fd;
  pid_t parent;
  int max_fd;
};

// Runs in the forked child of a multi-threaded parent: async-signal-safe
// calls only (no malloc, no locks) until execve.
[[noreturn]] void ExecChild(const ChildSetup& s) {
  // Die with the agent (strictly: with the forking thread, see SpawnChild).
  // Re-check the parent in case it died before this.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != s.parent) _exit(127);
  // Own process group: terminal signals aimed at the agent miss the child,
  // and stopping it can take its own children along.
  setpgid(0, 0);
  // exec keeps the signal mask and ignored signals; start from defaults.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);

  // Keep the fds we need above kWorkerFd so the dup2s below cannot clobber
  // them.
  int err_fd = s.err_fd;
  if (err_fd <= kWorkerFd)
    err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, kWorkerFd + 1);
  int sock = s.sock;
  if (sock <= kWorkerFd) sock = fcntl(sock, F_DUPFD_CLOEXEC, kWorkerFd + 1);
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull > 0) dup2(devnull, STDIN_FILENO);
  if (devnull == STDIN_FILENO) fcntl(devnull, F_SETFD, 0);
  int err = 0;
  if (sock < 0 || dup2(sock, kWorkerFd) < 0) err = errno != 0 ? errno : EBADF;
  // Nothing else of the agent's leaks into user code, whatever its flags.
  if (err == 0 && close_range(kWorkerFd + 1, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = kWorkerFd + 1; fd < s.max_fd; ++fd) {
      if (fd != err_fd) close(fd);
    }
  }
  if (err == 0) {
    execve(s.executable, s.argv, s.envp);
    err = errno;
  }
  (void)!write(err_fd, &err, sizeof(err));
  _exit(127);
}

}  // namespace

absl::StatusOr<SpawnedChild> SpawnChild(const ChildSpec& spec) {
  // Everything the child needs is built before fork: after it, the child
  // may only make async-signal-safe calls.
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv = ExecArgs(args);
  absl::flat_hash_set<std::string> overridden;
  std::vector<std::string> env;
  for (const auto& [name, value] : spec.env) {
    overridden.insert(name);
    env.push_back(absl::StrCat(name, "=", value));
  }
  for (char** e = environ; *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq != nullptr && overridden.contains(absl::string_view(*e, eq - *e))) {
      continue;
    }
    env.push_back(*e);
  }
  std::vector<char*> envp = ExecArgs(env);
  struct rlimit limit;
  int max_fd = 65536;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur != RLIM_INFINITY) {
    max_fd = static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 1 << 20));
  }

  int sv[2];
  if (socketpair(AF_UNIX, spec.socket_type | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoStatus(errno, "socketpair", "");
  }
  // The child reports an exec failure through this pipe; EOF means exec
  // succeeded (the write end is close-on-exec).
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int err = errno;
    close(sv[0]);
    close(sv[1]);
    return ErrnoStatus(err, "pipe2", "");
  }
  const ChildSetup setup = {spec.executable.c_str(),
                            argv.data(),
                            envp.data(),
                            sv[1],
                            err_pipe[1],
                            getpid(),
                            max_fd};
  const pid_t pid = fork();
  if (pid == 0) ExecChild(setup);
  const int fork_errno = errno;
  close(sv[1]);
  close(err_pipe[1]);
  if (pid < 0) {
    close(sv[0]);
    close(err_pipe[0]);
    return ErrnoStatus(fork_errno, "fork", spec.executable);
  }
  setpgid(pid, pid);  // Also here: no window where kill(-pid) misses it.
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(err_pipe[0], &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  close(err_pipe[0]);
  if (n > 0) {
    close(sv[0]);
    int wstatus;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    return ErrnoStatus(exec_errno, "exec", spec.executable);
  }
  SpawnedChild child;
  child.pid = pid;
  child.sock = sv[0];
  child.pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  return child;
}

std::string DescribeExit(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    return absl::StrCat("signal ", WTERMSIG(wait_status));
  }
  if (WIFEXITED(wait_status)) {
    return absl::StrCat("code ", WEXITSTATUS(wait_status));
  }
  return absl::StrCat("wait status ", wait_status);
}

void SignalGroup(pid_t pid, int sig) {
  if (kill(-pid, sig) != 0) kill(pid, sig);
}

bool SignalPidfd(int pidfd, int sig) {
  return pidfd >= 0 &&
         syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0;
}

}  // namespace tether::agent
