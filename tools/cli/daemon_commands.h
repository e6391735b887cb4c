#ifndef TETHER_TOOLS_CLI_DAEMON_COMMANDS_H_
#define TETHER_TOOLS_CLI_DAEMON_COMMANDS_H_

// `tether up` and `tether stop`: a local tetherd as a background daemon.

#include "tools/cli/command.h"

namespace tether::cli {

/// tether up [--state-dir DIR] [--listen HOST:PORT] [--foreground]
Command UpCommand();
/// tether stop [--state-dir DIR]
Command StopCommand();

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_DAEMON_COMMANDS_H_
