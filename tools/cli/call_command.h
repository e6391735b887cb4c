#ifndef TETHER_TOOLS_CLI_CALL_COMMAND_H_
#define TETHER_TOOLS_CLI_CALL_COMMAND_H_

// `tether call SERVICE [METHOD]`: one call, its result on stdout, logs and
// remote exceptions on stderr.

#include "tools/cli/command.h"

namespace tether::cli {

/// tether call SERVICE [METHOD] [--json JSON | --raw-file F | --pickle-file F]
///   [--all | --replica NAME] [--time] [--timeout SECONDS] [-o json]
Command CallCommand();

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_CALL_COMMAND_H_
