#include "tools/cli/signal_catcher.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace tether::cli {
namespace {

// Write end of the live catcher's pipe; -1 when there is none. Atomic
// because the handler may run on any thread.
std::atomic<int> g_write_fd{-1};

// A byte that is not a signal number: tells the thread to exit.
constexpr unsigned char kQuit = 0;

void OnSignal(int signo) {
  const int saved_errno = errno;
  const int fd = g_write_fd.load();
  const unsigned char byte = static_cast<unsigned char>(signo);
  // write(2) is async-signal-safe; a full pipe means a signal is pending.
  if (fd >= 0) (void)!write(fd, &byte, 1);
  errno = saved_errno;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SignalCatcher>> SignalCatcher::Create(
    const std::vector<int>& signals, std::function<void(int)> on_signal) {
  for (int signo : signals) {
    if (signo <= 0 || signo >= 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("signal ", signo, " out of range"));
    }
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2", "");
  int expected = -1;
  if (!g_write_fd.compare_exchange_strong(expected, fds[1])) {
    close(fds[0]);
    close(fds[1]);
    return absl::FailedPreconditionError("a SignalCatcher already exists");
  }
  std::unique_ptr<SignalCatcher> catcher(new SignalCatcher(fds[0], fds[1]));
  for (int signo : signals) {
    struct sigaction action = {};
    action.sa_handler = OnSignal;
    sigemptyset(&action.sa_mask);
    // SA_RESTART: other threads' system calls should not see EINTR.
    action.sa_flags = SA_RESETHAND | SA_RESTART;
    struct sigaction previous;
    if (sigaction(signo, &action, &previous) != 0) {
      return ErrnoStatus(errno, absl::StrCat("sigaction ", signo), "");
    }
    catcher->previous_.emplace_back(signo, previous);
  }
  catcher->thread_ =
      std::thread([fd = fds[0], on_signal = std::move(on_signal)] {
        bool called = false;
        while (true) {
          unsigned char byte;
          const ssize_t n = read(fd, &byte, 1);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0 || byte == kQuit) return;
          if (!std::exchange(called, true)) on_signal(byte);
        }
      });
  return catcher;
}

SignalCatcher::SignalCatcher(int read_fd, int write_fd)
    : read_fd_(read_fd), write_fd_(write_fd) {}

SignalCatcher::~SignalCatcher() {
  for (const auto& [signo, previous] : previous_) {
    sigaction(signo, &previous, nullptr);
  }
  g_write_fd.store(-1);
  if (thread_.joinable()) {
    const unsigned char quit = kQuit;
    (void)!write(write_fd_, &quit, 1);
    thread_.join();
  }
  close(read_fd_);
  close(write_fd_);
}

}  // namespace tether::cli
