#ifndef TETHER_TOOLS_CLI_COMMAND_H_
#define TETHER_TOOLS_CLI_COMMAND_H_

// What every command gets and shares: output streams, environment, the way
// to reach tetherd, and the flags common to several commands.

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "servicespec/service_file.h"
#include "tools/cli/args.h"
#include "tools/cli/client.h"
#include "tools/cli/endpoint.h"
#include "tools/cli/file_watcher.h"

namespace tether::cli {

/// Per-invocation state handed to a command. Commands write results to
/// `out` and progress, logs and errors to `err`.
struct Context {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  Environment env;
  /// Opens the connection to tetherd for a command's parsed flags. The
  /// default (DefaultConnect) resolves the endpoint and dials it; tests
  /// substitute an in-process server.
  std::function<absl::StatusOr<std::unique_ptr<Connection>>(
      const ParsedArgs& args, const Environment& env)>
      connect;
  /// Wall clock for ages and timings; tests pin it.
  std::function<absl::Time()> now = [] { return absl::Now(); };
  /// Zone of wall-clock stamps (`tether dev`); tests pin UTC.
  absl::TimeZone time_zone = absl::LocalTimeZone();
  /// Watches files for `tether dev`; empty means inotify. Tests substitute
  /// a scripted fake.
  FileWatcherFactory new_watcher;
};

/// A command: its spec and what runs it. `run` returns the exit code.
struct Command {
  CommandSpec spec;
  std::function<int(const ParsedArgs&, Context&)> run;
};

/// Resolves the endpoint (--endpoint, $TETHER_ENDPOINT, state dir) and the
/// token (--token, $TETHER_TOKEN), then dials tetherd (see Dial: an
/// unreachable tetherd fails the first call, with exit code 4).
absl::StatusOr<std::unique_ptr<Connection>> DefaultConnect(
    const ParsedArgs& args, const Environment& env);

/// --endpoint, --state-dir and --token.
std::vector<FlagSpec> ConnectionFlags();
/// -o/--output FORMAT.
FlagSpec OutputFlag();

/// Whether -o json was given. INVALID_ARGUMENT for formats other than
/// "json" and "text".
absl::StatusOr<bool> WantJson(const ParsedArgs& args);

/// `path` as an absolute, symlink-free directory. INVALID_ARGUMENT
/// "LABEL: \"PATH\" is not a directory".
absl::StatusOr<std::string> ExistingDir(absl::string_view label,
                                        const std::string& path);

/// The code directory to upload: --code when given, as an absolute,
/// symlink-free path, else `from_file` (the service file's). INVALID_ARGUMENT
/// "--code: \"DIR\" is not a directory".
absl::StatusOr<std::string> CodeDir(const ParsedArgs& args,
                                    const std::string& from_file);

/// A service file and the code directory that goes with it.
struct ServiceInputs {
  servicespec::ServiceFile file;
  /// Absolute code directory (--code or the file's).
  std::string code_dir;
};

/// Loads --file and resolves --code. On failure prints the error and
/// returns nullopt with `*exit_code` set to 2: local input problems.
std::optional<ServiceInputs> LoadServiceInputs(const CommandSpec& command,
                                               const ParsedArgs& args,
                                               Context& ctx, int* exit_code);

/// What `deploy` and `dev` start from.
struct DeployTarget : ServiceInputs {
  std::unique_ptr<Connection> connection;
};

/// LoadServiceInputs, then dials tetherd (nothing is dialed when the
/// inputs are bad). On failure prints the error and returns nullopt with
/// `*exit_code` set.
std::optional<DeployTarget> OpenDeployTarget(const CommandSpec& command,
                                             const ParsedArgs& args,
                                             Context& ctx, int* exit_code);

/// Prints "error: MESSAGE" to ctx.err and returns ExitCodeFor(status).
int Fail(Context& ctx, const absl::Status& status);

/// Prints "error: MESSAGE" and a pointer to the command's help; returns 2.
int UsageError(Context& ctx, const CommandSpec& spec,
               absl::string_view message);

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_COMMAND_H_
