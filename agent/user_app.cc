#include "agent/user_app.h"

#include <signal.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/log.h"
#include "common/revision_id.h"
#include "common/status_macros.h"
#include "sync/revision_builder.h"

namespace tether::agent {
namespace {

// The end of a failed reload command's output that its error quotes.
constexpr size_t kOutputTailBytes = 2048;

absl::StatusOr<std::string> ResolveProgram(
    absl::string_view flag, const std::vector<std::string>& command) {
  if (command.empty()) return std::string();
  if (command[0].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": the program is empty"));
  }
  absl::StatusOr<std::string> program = FindProgram(command[0]);
  if (!program.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", program.status().message()));
  }
  return program;
}

}  // namespace

absl::StatusOr<std::unique_ptr<UserApp>> UserApp::Create(Options options) {
  std::unique_ptr<UserApp> app(new UserApp(std::move(options)));
  absl::StatusOr<std::string> reload =
      ResolveProgram("reload command", app->options_.reload_command);
  if (!reload.ok()) return reload.status();
  absl::StatusOr<std::string> server =
      ResolveProgram("app command", app->options_.app_command);
  if (!server.ok()) return server.status();
  app->reload_program_ = *std::move(reload);
  app->app_program_ = *std::move(server);
  return app;
}

UserApp::~UserApp() {
  pid_t pid;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    pid = app_pid_;
    if (pid > 0) SignalGroup(pid, SIGTERM);
    auto reaped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return app_pid_ < 0;
    };
    if (pid > 0 &&
        !mu_.AwaitWithTimeout(absl::Condition(&reaped), options_.stop_grace)) {
      SignalGroup(pid, SIGKILL);
    }
  }
  if (app_waiter_.joinable()) app_waiter_.join();
}

std::string UserApp::code_dir() const {
  return absl::StrCat(options_.workdir, "/current");
}

std::string UserApp::app_revision() const {
  absl::MutexLock lock(&mu_);
  return app_revision_;
}

absl::Status UserApp::Publish(const std::string& revision) {
  RETURN_IF_ERROR(sync::SwitchCurrent(options_.workdir, revision));
  bool first;
  {
    absl::MutexLock lock(&mu_);
    first = !published_;
    published_ = true;
  }
  if (!first) return RunReloadCommand(revision);
  if (app_program_.empty()) return absl::OkStatus();
  return StartApp(revision);
}

absl::Status UserApp::RunReloadCommand(const std::string& revision) {
  if (reload_program_.empty()) return absl::OkStatus();
  const std::string output = absl::StrCat(options_.workdir, "/reload.log");
  unlink(output.c_str());
  ChildSpec spec;
  spec.executable = reload_program_;
  spec.argv = options_.reload_command;
  spec.env = {{"TETHER_CODE_DIR", code_dir()}, {"TETHER_REVISION", revision}};
  spec.socket_type = 0;
  spec.output_path = output;
  spec.working_dir = sync::RevisionDir(options_.workdir, revision);
  ASSIGN_OR_RETURN(SpawnedChild child, SpawnChild(spec));
  if (child.pidfd >= 0) close(child.pidfd);
  const absl::Time deadline = absl::Now() + options_.reload_timeout;
  AwaitExitWithoutPidfd(child.pid, Clock::Real(), deadline);
  const ProcessExit exit = WaitChild(child.pid);
  if (exit == ProcessExit{}) return absl::OkStatus();
  const std::string why =
      absl::Now() >= deadline
          ? absl::StrCat("did not finish in ",
                         absl::FormatDuration(options_.reload_timeout))
          : absl::StrCat("failed with ", exit.ToString());
  absl::StatusOr<std::string> printed = ReadFileTail(output, kOutputTailBytes);
  return absl::FailedPreconditionError(absl::StrCat(
      "reload command [", absl::StrJoin(options_.reload_command, " "), "] ",
      why, " on revision ", ShortRevision(revision),
      printed.ok() && !printed->empty() ? absl::StrCat(":\n", *printed) : ""));
}

absl::Status UserApp::StartApp(const std::string& revision) {
  ChildSpec spec;
  spec.executable = app_program_;
  spec.argv = options_.app_command;
  spec.env = {{"TETHER_CODE_DIR", code_dir()}};
  if (options_.app_port != 0) {
    spec.env.emplace_back("PORT", absl::StrCat(options_.app_port));
  }
  spec.socket_type = 0;
  spec.working_dir = sync::RevisionDir(options_.workdir, revision);
  // Stopped gracefully when the agent dies, as a container would be.
  spec.parent_death_signal = SIGTERM;
  absl::StatusOr<SpawnedChild> child = SpawnChild(spec);
  if (!child.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot start the app [", absl::StrJoin(options_.app_command, " "),
        "]: ", child.status().message()));
  }
  if (child->pidfd >= 0) close(child->pidfd);
  TETHER_LOG(INFO) << "app [" << absl::StrJoin(options_.app_command, " ")
                   << "] started as pid " << child->pid << " on revision "
                   << ShortRevision(revision);
  absl::MutexLock lock(&mu_);
  app_pid_ = child->pid;
  app_revision_ = revision;
  app_waiter_ = std::thread([this, pid = child->pid] { AwaitApp(pid); });
  return absl::OkStatus();
}

void UserApp::AwaitApp(pid_t pid) {
  // Waits without reaping, so the destructor can signal the group until
  // the pid is marked gone under the lock.
  AwaitExitWithoutPidfd(pid, Clock::Real(), absl::InfiniteFuture());
  bool stopping;
  ProcessExit exit;
  {
    absl::MutexLock lock(&mu_);
    exit = WaitChild(pid);
    app_pid_ = -1;
    stopping = stopping_;
  }
  if (stopping) return;
  TETHER_LOG(WARNING) << "app exited with " << exit.ToString();
  if (options_.on_app_exit) options_.on_app_exit(exit);
}

}  // namespace tether::agent
