#ifndef TETHER_TOOLS_CLI_DAEMON_H_
#define TETHER_TOOLS_CLI_DAEMON_H_

// Process plumbing for `tether up` / `tether stop`: pid files, starting a
// detached daemon, checking on it.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::cli {

/// The pid in a pid file ("1234\n"). NOT_FOUND when the file does not exist,
/// INVALID_ARGUMENT when it does not hold a positive number.
absl::StatusOr<pid_t> ReadPidFile(const std::string& path);

/// Whether `cmdline` (the NUL-separated contents of /proc/<pid>/cmdline)
/// belongs to `program`: its argv[0]'s base name is `program`.
bool CommandLineIs(absl::string_view cmdline, absl::string_view program);

/// Whether `pid` is alive and runs `program` (checked through
/// /proc/<pid>/cmdline, so a recycled pid is not mistaken for the daemon;
/// zombies have an empty command line and count as gone). Where /proc is
/// unavailable, only liveness is checked.
bool IsProgramRunning(pid_t pid, absl::string_view program);

/// Starts `argv` (argv[0] an absolute path) in a new session, detached from
/// the terminal: stdin from /dev/null, stdout and stderr appended to
/// `log_path`. Returns its pid; it is our child until this process exits.
absl::StatusOr<pid_t> SpawnDetached(const std::vector<std::string>& argv,
                                    const std::string& log_path);

/// For a child started by SpawnDetached: "code N" / "signal N"
/// (ProcessExit) once it has exited (and reaps it), nullopt while it runs.
std::optional<std::string> ChildExit(pid_t pid);

/// The last `max_lines` lines of a file, or "" when it cannot be read.
std::string TailOfFile(const std::string& path, size_t max_lines);

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_DAEMON_H_
