#ifndef TETHER_TOOLS_CLI_LOGS_COMMAND_H_
#define TETHER_TOOLS_CLI_LOGS_COMMAND_H_

// `tether logs SERVICE [-f] [--since DURATION] [--replica NAME]`.

#include <string>

#include "tether/v1/call.pb.h"
#include "tools/cli/command.h"

namespace tether::cli {

/// tether logs SERVICE [-f|--follow] [--since DURATION] [--replica NAME]
Command LogsCommand();

/// One line as `tether logs` prints it: "[replica] text", with the level
/// first for a `logging` record ("[hello-0] WARNING text") and where it came
/// from for what a replica printed itself ("[hello-0] (pod) text").
std::string FormatLogLine(const tether::v1::LogLine& line);

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_LOGS_COMMAND_H_
