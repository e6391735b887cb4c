#include "tools/cli/dev_command.h"

#include <signal.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/diagnostics.h"
#include "common/status_macros.h"
#include "servicespec/service_file.h"
#include "tools/cli/deployer.h"
#include "tools/cli/dev_loop.h"
#include "tools/cli/exit_codes.h"
#include "tools/cli/inotify_watcher.h"
#include "tools/cli/signal_catcher.h"

namespace tether::cli {
namespace {

// Beyond a minute, "debounce" is a typo for something else.
constexpr int kMaxDebounceMs = 60'000;
// How long `dev` waits for tetherd's first answer before exit 4.
constexpr absl::Duration kConnectTimeout = absl::Seconds(10);

absl::StatusOr<std::unique_ptr<FileWatcher>> NewInotifyWatcher(
    const WatchSpec& spec) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileWatcher> watcher,
                   InotifyWatcher::Create(spec));
  return watcher;
}

int RunDev(const CommandSpec& command, const ParsedArgs& args, Context& ctx) {
  if (!args.Has("file")) {
    return UsageError(ctx, command, "missing --file FILE (the service YAML)");
  }
  int debounce_ms = 100;
  if (args.Has("debounce-ms")) {
    const std::string flag = args.Get("debounce-ms");
    if (!absl::SimpleAtoi(flag, &debounce_ms) || debounce_ms < 0 ||
        debounce_ms > kMaxDebounceMs) {
      return UsageError(
          ctx, command,
          absl::StrCat("--debounce-ms: expected milliseconds from 0 to ",
                       kMaxDebounceMs, ", got ", Quote(flag)));
    }
  }
  // Local problems are the user's input: exit 2 before dialing, as deploy.
  const std::string path = args.Get("file");
  int exit_code = 0;
  std::optional<DeployTarget> target =
      OpenDeployTarget(command, args, ctx, &exit_code);
  if (!target.has_value()) return exit_code;
  // Dev mode runs for minutes: one health check up front makes a tetherd
  // that is down exit 4 at once instead of watching with nowhere to deploy.
  if (absl::Status status = target->connection->Explain(
          CheckHealth(target->connection->channel, kConnectTimeout,
                      target->connection->token));
      !status.ok()) {
    return Fail(ctx, status);
  }

  Deployer deployer(*target->connection, ctx.now);
  DevLoopOptions options;
  options.spec_path = path;
  if (args.Has("code")) options.code_override = target->code_dir;
  options.debounce = absl::Milliseconds(debounce_ms);
  options.new_watcher =
      ctx.new_watcher ? ctx.new_watcher : FileWatcherFactory(NewInotifyWatcher);
  options.now = ctx.now;
  options.time_zone = ctx.time_zone;
  options.out = ctx.out;
  absl::StatusOr<std::unique_ptr<DevLoop>> loop =
      DevLoop::Create(std::move(options), std::move(target->file), &deployer);
  if (!loop.ok()) return Fail(ctx, loop.status());

  // Ctrl-C is how dev mode ends, so it is success, not an interruption.
  DevLoop* const raw_loop = loop->get();
  absl::StatusOr<std::unique_ptr<SignalCatcher>> catcher =
      SignalCatcher::Create({SIGINT, SIGTERM},
                            [raw_loop](int) { raw_loop->RequestStop(); });
  if (!catcher.ok()) return Fail(ctx, catcher.status());
  absl::Status status = (*loop)->Run();
  // Before the loop goes: the catcher's thread may still be calling it.
  catcher->reset();
  if (!status.ok()) return Fail(ctx, status);
  return kExitOk;
}

}  // namespace

Command DevCommand() {
  Command command;
  CommandSpec& spec = command.spec;
  spec.name = "dev";
  spec.summary = "Deploy, then redeploy on every save until Ctrl-C.";
  spec.description =
      "Deploys like 'tether deploy', then watches the code directory (what\n"
      "the upload ignores does not count: .gitignore, .tetherignore, .git,\n"
      "__pycache__, *.pyc) and the service file. A save redeploys once the\n"
      "directory has been quiet for --debounce-ms; only changed files are\n"
      "sent, and replicas reload the code in place. One line per redeploy:\n"
      "\n"
      "  [12:03:04] app.py changed → revision abc123def456 ready in 0.08s\n"
      "\n"
      "Failures (an import error with its remote traceback, an invalid\n"
      "service file naming the field) are printed and watching goes on; the\n"
      "last good revision keeps serving. Ctrl-C stops watching (exit 0) and\n"
      "leaves the service running.\n";
  spec.flags = {
      {"file", 'f', "FILE", "service YAML (required)"},
      {"code", '\0', "DIR", "watch and upload DIR instead of the file's code"},
      {"debounce-ms", '\0', "MS",
       "quiet time before a redeploy, in milliseconds (default: 100)"},
  };
  for (FlagSpec& flag : ConnectionFlags()) spec.flags.push_back(flag);
  command.run = [spec](const ParsedArgs& args, Context& ctx) {
    return RunDev(spec, args, ctx);
  };
  return command;
}

}  // namespace tether::cli
