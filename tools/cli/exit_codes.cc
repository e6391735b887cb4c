#include "tools/cli/exit_codes.h"

namespace tether::cli {

ExitCode ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kPermissionDenied:
      return kExitUsage;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    default:
      return kExitOther;
  }
}

const char* ExitCodeHelp() {
  return "Exit codes:\n"
         "  0  success\n"
         "  1  the remote code raised an exception (tether call)\n"
         "  2  usage error or invalid input (bad flags or files, "
         "INVALID_ARGUMENT,\n"
         "     PERMISSION_DENIED)\n"
         "  3  not found (NOT_FOUND)\n"
         "  4  tetherd or the service unreachable (UNAVAILABLE, "
         "DEADLINE_EXCEEDED)\n"
         "  5  any other error\n";
}

}  // namespace tether::cli
