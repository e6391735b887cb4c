#ifndef TETHER_TOOLS_CLI_SYNC_COMMAND_H_
#define TETHER_TOOLS_CLI_SYNC_COMMAND_H_

// `tether sync DIR`: upload a code directory without deploying it, and say
// which revision it became (the Python client deploys that revision itself).

#include "tools/cli/command.h"

namespace tether::cli {

/// tether sync [DIR] [-o json] [connection flags]
Command SyncCommand();

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_SYNC_COMMAND_H_
