#ifndef TETHER_TOOLS_CLI_EXIT_CODES_H_
#define TETHER_TOOLS_CLI_EXIT_CODES_H_

// Exit codes of the `tether` CLI, stable for scripts (also in `tether --help`):
//   0  success
//   1  the remote code raised (tether call)
//   2  usage error or invalid input: bad flags or files, INVALID_ARGUMENT,
//      PERMISSION_DENIED (e.g. a codec the service does not allow)
//   3  NOT_FOUND (unknown service or revision)
//   4  tetherd or the service unreachable: UNAVAILABLE, DEADLINE_EXCEEDED
//   5  anything else

#include "absl/status/status.h"

namespace tether::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitRemoteError = 1,
  kExitUsage = 2,
  kExitNotFound = 3,
  kExitUnavailable = 4,
  kExitOther = 5,
};

/// The exit code for a failed (or OK) operation, by status code as above.
ExitCode ExitCodeFor(const absl::Status& status);

/// The exit-code table as printed by `tether --help`.
const char* ExitCodeHelp();

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_EXIT_CODES_H_
