#ifndef TETHER_TOOLS_CLI_DEPLOY_COMMAND_H_
#define TETHER_TOOLS_CLI_DEPLOY_COMMAND_H_

// `tether deploy -f service.yaml`: load and validate the spec, upload the
// code, deploy, stream progress.

#include "tools/cli/command.h"

namespace tether::cli {

/// tether deploy -f FILE [--code DIR] [-o json] [connection flags]
Command DeployCommand();

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_DEPLOY_COMMAND_H_
