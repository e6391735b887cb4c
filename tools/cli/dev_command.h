#ifndef TETHER_TOOLS_CLI_DEV_COMMAND_H_
#define TETHER_TOOLS_CLI_DEV_COMMAND_H_

// `tether dev -f service.yaml`: deploy, then redeploy on every save until
// Ctrl-C.

#include "tools/cli/command.h"

namespace tether::cli {

/// tether dev -f FILE [--code DIR] [--debounce-ms MS] [connection flags]
Command DevCommand();

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_DEV_COMMAND_H_
