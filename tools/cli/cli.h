#ifndef TETHER_TOOLS_CLI_CLI_H_
#define TETHER_TOOLS_CLI_CLI_H_

// The `tether` command line: dispatch to subcommands and the global help.

#include <string>
#include <vector>

#include "tools/cli/command.h"

namespace tether::cli {

/// Every subcommand, in help order.
std::vector<Command> AllCommands();

/// `tether --help`: commands, connection settings and exit codes.
std::string GlobalUsage(const std::vector<Command>& commands);

/// Runs `tether ARGS...` (`args` excludes the program name) and returns the
/// exit code. `tether`, `tether --help`, `tether help [CMD]` and
/// `tether CMD --help` print usage; unknown commands are usage errors (2).
int RunCli(const std::vector<std::string>& args, Context& ctx);

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_CLI_H_
