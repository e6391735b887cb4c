#include "tests/tetherd_process.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/exec_args.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "common/status_macros.h"

namespace tether::testing {

absl::StatusOr<std::unique_ptr<TetherdProcess>> TetherdProcess::Start(
    const std::string& state_dir, std::vector<std::string> extra_flags) {
  std::unique_ptr<TetherdProcess> process(
      new TetherdProcess(state_dir, std::move(extra_flags)));
  RETURN_IF_ERROR(process->Launch());
  return process;
}

TetherdProcess::~TetherdProcess() { Stop(); }

absl::Status TetherdProcess::Launch() {
  ASSIGN_OR_RETURN(const std::string binary,
                   FindDataFile("controlplane/tetherd"));
  const std::string endpoint_file = state_dir() + "/tetherd.endpoint";
  unlink(endpoint_file.c_str());
  // A restart keeps the port, as a Kubernetes Service keeps tetherd's
  // address, so agents dialing the old one find the new tetherd.
  const std::string listen = address().empty() ? "127.0.0.1:0" : address();
  std::vector<std::string> args = {binary, absl::StrCat("--listen=", listen),
                                   absl::StrCat("--state_dir=", state_dir())};
  args.insert(args.end(), flags_.begin(), flags_.end());
  std::vector<char*> argv = ExecArgs(args);
  pid_ = fork();
  if (pid_ == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> endpoint = ReadFile(endpoint_file);
    if (endpoint.ok() && !endpoint->empty()) {
      Connect(*std::move(endpoint));
      return absl::OkStatus();
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      return absl::InternalError("tetherd exited during start-up");
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError("tetherd did not start in 30 s");
}

void TetherdProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
  pid_ = 0;
}

void TetherdProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = 0;
}

bool TetherdProcess::WaitUntilKilled(absl::Duration timeout) {
  if (pid_ <= 0) return false;
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) != pid_) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  pid_ = 0;
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

absl::Status TetherdProcess::Restart() {
  Stop();
  return Launch();
}

}  // namespace tether::testing
