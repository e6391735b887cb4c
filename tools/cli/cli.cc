#include "tools/cli/cli.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/diagnostics.h"
#include "tools/cli/apply_command.h"
#include "tools/cli/call_command.h"
#include "tools/cli/daemon_commands.h"
#include "tools/cli/deploy_command.h"
#include "tools/cli/dev_command.h"
#include "tools/cli/exit_codes.h"
#include "tools/cli/inject_command.h"
#include "tools/cli/logs_command.h"
#include "tools/cli/render_command.h"
#include "tools/cli/service_commands.h"
#include "tools/cli/sync_command.h"

namespace tether::cli {
namespace {

const Command* Find(const std::vector<Command>& commands,
                    absl::string_view name) {
  for (const Command& command : commands) {
    if (command.spec.name == name) return &command;
  }
  return nullptr;
}

int UnknownCommand(Context& ctx, const std::vector<Command>& commands,
                   absl::string_view name) {
  std::vector<std::string> names;
  for (const Command& command : commands) names.push_back(command.spec.name);
  const std::string suggestion = ClosestMatch(name, names);
  *ctx.err << "error: unknown command " << Quote(name);
  if (!suggestion.empty())
    *ctx.err << " (did you mean '" << suggestion << "'?)";
  *ctx.err << "\nRun 'tether --help' for the list of commands." << std::endl;
  return kExitUsage;
}

}  // namespace

std::vector<Command> AllCommands() {
  return {UpCommand(),     StopCommand(),  DeployCommand(), SyncCommand(),
          DevCommand(),    CallCommand(),  LogsCommand(),   ListCommand(),
          StatusCommand(), ScaleCommand(), DownCommand(),   RenderCommand(),
          InjectCommand(), ApplyCommand()};
}

std::string GlobalUsage(const std::vector<Command>& commands) {
  std::string out =
      "tether: run Python (and native) code on Kubernetes or local processes\n"
      "as a callable service.\n"
      "\n"
      "Usage: tether <command> [arguments] [flags]\n"
      "\n"
      "Commands:\n";
  size_t width = 0;
  for (const Command& command : commands) {
    width = std::max(width, command.spec.name.size());
  }
  for (const Command& command : commands) {
    absl::StrAppend(&out, "  ", command.spec.name,
                    std::string(width - command.spec.name.size() + 3, ' '),
                    command.spec.summary, "\n");
  }
  absl::StrAppend(
      &out,
      "\n"
      "Commands other than up and stop reach tetherd at --endpoint, else\n"
      "$TETHER_ENDPOINT, else the address in <state-dir>/tetherd.endpoint\n"
      "(state dir: --state-dir, else $TETHER_STATE_DIR, else ~/.tether), with\n"
      "the bearer token from --token or $TETHER_TOKEN if one is set.\n"
      "\n",
      ExitCodeHelp(),
      "\n"
      "Run 'tether <command> --help' for a command's arguments and flags.\n");
  return out;
}

int RunCli(const std::vector<std::string>& args, Context& ctx) {
  const std::vector<Command> commands = AllCommands();
  if (args.empty()) {
    *ctx.err << GlobalUsage(commands) << std::flush;
    return kExitUsage;
  }
  const std::string& name = args[0];
  if (name == "--help" || name == "-h" || name == "help") {
    if (name == "help" && args.size() > 1) {
      const Command* command = Find(commands, args[1]);
      if (command == nullptr) return UnknownCommand(ctx, commands, args[1]);
      *ctx.out << FormatUsage(command->spec) << std::flush;
      return kExitOk;
    }
    *ctx.out << GlobalUsage(commands) << std::flush;
    return kExitOk;
  }
  const Command* command = Find(commands, name);
  if (command == nullptr) return UnknownCommand(ctx, commands, name);
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(
      command->spec, std::vector<std::string>(args.begin() + 1, args.end()));
  if (!parsed.ok()) {
    return UsageError(ctx, command->spec, parsed.status().message());
  }
  if (parsed->help()) {
    *ctx.out << FormatUsage(command->spec) << std::flush;
    return kExitOk;
  }
  return command->run(*parsed, ctx);
}

}  // namespace tether::cli
