#include "common/child_process.h"

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
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/exec_args.h"
#include "common/files.h"

namespace tether {
namespace {

struct ChildSetup {
  const char* executable;
  char* const* argv;
  char* const* envp;
  int sock;  // -1: none.
  int child_fd;
  int out_fd;  // -1: keep stdout/stderr.
  int err_fd;
  pid_t parent;
  int death_signal;
  int max_fd;
  const char* working_dir;  // nullptr: the parent's.
};

// Moves `fd` above `floor` (async-signal-safe), so dup2s onto the fds up to
// `floor` cannot clobber it.
int Above(int fd, int floor) {
  return fd >= 0 && fd <= floor ? fcntl(fd, F_DUPFD_CLOEXEC, floor + 1) : fd;
}

// Runs in the forked child of a multi-threaded parent: async-signal-safe
// calls only (no malloc, no locks) until execve.
[[noreturn]] void ExecChild(const ChildSetup& s) {
  // Die with the parent (strictly: with the forking thread, see
  // SpawnChild). Re-check the parent in case it died before this.
  prctl(PR_SET_PDEATHSIG, s.death_signal);
  if (getppid() != s.parent) _exit(127);
  // Own process group: terminal signals aimed at the parent miss the child,
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

  // The fds kept from here on: 0-2 and the socket's.
  const int last_kept = s.sock >= 0 ? std::max(s.child_fd, 2) : 2;
  const int err_fd = Above(s.err_fd, last_kept);
  const int sock = Above(s.sock, last_kept);
  const int out_fd = Above(s.out_fd, last_kept);
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull > 0) dup2(devnull, STDIN_FILENO);
  if (devnull == STDIN_FILENO) fcntl(devnull, F_SETFD, 0);
  int err = 0;
  if (s.out_fd >= 0 && (out_fd < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
                        dup2(out_fd, STDERR_FILENO) < 0)) {
    err = errno != 0 ? errno : EBADF;
  }
  if (err == 0 && s.sock >= 0 && (sock < 0 || dup2(sock, s.child_fd) < 0)) {
    err = errno != 0 ? errno : EBADF;
  }
  if (err == 0 && s.working_dir != nullptr && chdir(s.working_dir) != 0) {
    err = errno;
  }
  // Nothing else of the parent's leaks into the child, whatever its flags.
  if (err == 0 && close_range(last_kept + 1, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = last_kept + 1; fd < s.max_fd; ++fd) {
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

ProcessExit ProcessExit::FromWaitStatus(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    return {Kind::kSignaled, WTERMSIG(wait_status)};
  }
  return {Kind::kExited, WEXITSTATUS(wait_status)};
}

std::string ProcessExit::ToString() const {
  return absl::StrCat(kind == Kind::kSignaled ? "signal " : "code ", code);
}

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

  // Closed on every return; the fds handed to the caller are taken out.
  int sv[2] = {-1, -1};
  int out_fd = -1;
  int err_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int fd : {sv[0], sv[1], out_fd, err_pipe[0], err_pipe[1]}) {
      if (fd >= 0) close(fd);
    }
  };
  if (spec.socket_type != 0 &&
      socketpair(AF_UNIX, spec.socket_type | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoStatus(errno, "socketpair", "");
  }
  if (!spec.output_path.empty()) {
    out_fd = open(spec.output_path.c_str(),
                  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) {
      const int err = errno;
      close_all();
      return ErrnoStatus(err, "open", spec.output_path);
    }
  }
  // The child reports an exec failure through this pipe; EOF means exec
  // succeeded (the write end is close-on-exec).
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int err = errno;
    close_all();
    return ErrnoStatus(err, "pipe2", "");
  }
  const ChildSetup setup = {
      spec.executable.c_str(),
      argv.data(),
      envp.data(),
      sv[1],
      spec.child_fd,
      out_fd,
      err_pipe[1],
      getpid(),
      spec.parent_death_signal,
      max_fd,
      spec.working_dir.empty() ? nullptr : spec.working_dir.c_str()};
  const pid_t pid = fork();
  if (pid == 0) ExecChild(setup);
  const int fork_errno = errno;
  const int sock = sv[0];
  sv[0] = -1;
  const int status_fd = err_pipe[0];
  err_pipe[0] = -1;
  close_all();
  if (pid < 0) {
    if (sock >= 0) close(sock);
    close(status_fd);
    return ErrnoStatus(fork_errno, "fork", spec.executable);
  }
  setpgid(pid, pid);  // Also here: no window where kill(-pid) misses it.
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(status_fd, &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  close(status_fd);
  if (n > 0) {
    if (sock >= 0) close(sock);
    WaitChild(pid);
    return ErrnoStatus(exec_errno, "exec", spec.executable);
  }
  SpawnedChild child;
  child.pid = pid;
  child.sock = sock;
  child.pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  return child;
}

absl::StatusOr<std::string> FindProgram(const std::string& program) {
  if (absl::StrContains(program, '/')) return program;
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(
           path != nullptr ? path : "/usr/bin:/bin", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", program);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(
      absl::StrCat("program \"", program, "\" is not in $PATH"));
}

ProcessExit WaitChild(pid_t pid) {
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  return ProcessExit::FromWaitStatus(wait_status);
}

void AwaitExitWithoutPidfd(pid_t pid, Clock* clock, absl::Time kill_deadline) {
  absl::Mutex mu;
  bool exited = false;
  // Without a pidfd nothing can wake a timed wait on the exit itself: one
  // thread blocks in waitid while another keeps the deadline.
  std::thread killer([&] {
    absl::MutexLock lock(&mu);
    if (!clock->AwaitWithDeadline(&mu, absl::Condition(&exited),
                                  kill_deadline)) {
      SignalGroup(pid, SIGKILL);
    }
  });
  siginfo_t info;
  while (waitid(P_PID, pid, &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
  }
  {
    absl::MutexLock lock(&mu);
    exited = true;
  }
  killer.join();
}

void SignalGroup(pid_t pid, int sig) {
  if (kill(-pid, sig) != 0) kill(pid, sig);
}

bool SignalPidfd(int pidfd, int sig) {
  return pidfd >= 0 &&
         syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0;
}

}  // namespace tether
