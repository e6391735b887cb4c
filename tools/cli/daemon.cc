#include "tools/cli/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/child_process.h"
#include "common/exec_args.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace tether::cli {

absl::StatusOr<pid_t> ReadPidFile(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string contents, ReadFile(path));
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(contents), &pid) ||
      pid <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " does not hold a process id"));
  }
  return static_cast<pid_t>(pid);
}

bool CommandLineIs(absl::string_view cmdline, absl::string_view program) {
  absl::string_view argv0 = cmdline.substr(0, cmdline.find('\0'));
  const size_t slash = argv0.rfind('/');
  if (slash != absl::string_view::npos) argv0.remove_prefix(slash + 1);
  return !argv0.empty() && argv0 == program;
}

bool IsProgramRunning(pid_t pid, absl::string_view program) {
  if (pid <= 0) return false;
  struct stat st;
  if (stat("/proc/self", &st) != 0) {
    return kill(pid, 0) == 0 || errno == EPERM;
  }
  absl::StatusOr<std::string> cmdline =
      ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
  return cmdline.ok() && CommandLineIs(*cmdline, program);
}

absl::StatusOr<pid_t> SpawnDetached(const std::vector<std::string>& argv,
                                    const std::string& log_path) {
  // posix_spawn rather than fork(): the CLI may already run gRPC threads
  // (it probed for a running tetherd), and fork() in a threaded process runs
  // gRPC's atfork handlers; posix_spawn goes straight to exec.
  const int log_fd =
      open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return ErrnoStatus(errno, "open", log_path);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, log_fd, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // A new session: no controlling terminal, so Ctrl-C in the shell that ran
  // `tether up` does not reach the daemon. Default signal dispositions and
  // an empty mask, whatever the CLI had.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args = ExecArgs(argv);
  pid_t pid = 0;
  const int rc =
      posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(log_fd);
  if (rc != 0) return ErrnoStatus(rc, "spawn", argv[0]);
  return pid;
}

std::optional<std::string> ChildExit(pid_t pid) {
  int status = 0;
  const pid_t rc = waitpid(pid, &status, WNOHANG);
  if (rc == 0) return std::nullopt;
  if (rc < 0) return std::string("exited");  // Not our child any more.
  if (!WIFEXITED(status) && !WIFSIGNALED(status)) return std::string("exited");
  return ProcessExit::FromWaitStatus(status).ToString();
}

std::string TailOfFile(const std::string& path, size_t max_lines) {
  // Logs grow without bound; the last 64 KiB hold the lines that matter.
  constexpr off_t kWindow = 64 << 10;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  struct stat st;
  std::string contents;
  if (fstat(fd, &st) == 0) {
    const off_t start = st.st_size > kWindow ? st.st_size - kWindow : 0;
    contents.resize(static_cast<size_t>(st.st_size - start));
    const ssize_t n = pread(fd, contents.data(), contents.size(), start);
    contents.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  close(fd);
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(contents), '\n');
  if (lines.size() > max_lines) {
    lines.erase(lines.begin(), lines.end() - static_cast<long>(max_lines));
  }
  return absl::StrJoin(lines, "\n");
}

}  // namespace tether::cli
