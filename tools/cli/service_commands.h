#ifndef TETHER_TOOLS_CLI_SERVICE_COMMANDS_H_
#define TETHER_TOOLS_CLI_SERVICE_COMMANDS_H_

// `tether ls`, `tether status SERVICE`, `tether down SERVICE`,
// `tether scale SERVICE N`.

#include "tools/cli/command.h"

namespace tether::cli {

/// tether ls [-o json]
Command ListCommand();
/// tether status SERVICE [-o json]
Command StatusCommand();
/// tether down SERVICE
Command DownCommand();
/// tether scale SERVICE N [-o json]
Command ScaleCommand();

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_SERVICE_COMMANDS_H_
