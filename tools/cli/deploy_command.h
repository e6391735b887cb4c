#ifndef TETHER_TOOLS_CLI_DEPLOY_COMMAND_H_
#define TETHER_TOOLS_CLI_DEPLOY_COMMAND_H_

// `tether deploy -f service.yaml`: load and validate the spec, upload the
// code, deploy, stream progress.

#include "tools/cli/command.h"

namespace tether::cli {

/// tether deploy -f FILE [--code DIR] [-o json] [connection flags]
Command DeployCommand();

/// What `deploy` does once it has its inputs: uploads `inputs.code_dir`,
/// deploys `inputs.file.spec` (--timeout, -o json and the connection flags
/// from `args`) and prints the progress. Returns the exit code.
int DeployInputs(const CommandSpec& command, const ParsedArgs& args,
                 Context& ctx, const ServiceInputs& inputs);

/// The --timeout flag of the commands that deploy.
FlagSpec DeployTimeoutFlag();

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_DEPLOY_COMMAND_H_
