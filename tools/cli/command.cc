#include "tools/cli/command.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/diagnostics.h"
#include "common/status_macros.h"
#include "tools/cli/exit_codes.h"

namespace tether::cli {

absl::StatusOr<std::unique_ptr<Connection>> DefaultConnect(
    const ParsedArgs& args, const Environment& env) {
  const std::string state_dir = ResolveStateDir(args.Get("state-dir"), env);
  ASSIGN_OR_RETURN(const Endpoint endpoint,
                   ResolveEndpoint(args.Get("endpoint"), env, state_dir));
  const Credentials credentials =
      ResolveCredentials({args.Get("token"), args.Get("ca-file"),
                          args.Get("cert-file"), args.Get("key-file")},
                         env, state_dir, endpoint);
  return Dial(endpoint.address, credentials.token, credentials.tls);
}

std::vector<FlagSpec> ConnectionFlags() {
  return {
      {"endpoint", '\0', "HOST:PORT",
       "tetherd address (default: $TETHER_ENDPOINT, then\n"
       "<state-dir>/tetherd.endpoint)"},
      {"state-dir", '\0', "DIR",
       "tetherd state directory (default: $TETHER_STATE_DIR,\nthen ~/.tether)"},
      {"token", '\0', "TOKEN",
       "bearer token (default: $TETHER_TOKEN, then the one\n"
       "'tether up' wrote to <state-dir>/tetherd.token)"},
      {"ca-file", '\0', "FILE",
       "verify tetherd over TLS with this PEM CA (default:\n"
       "$TETHER_CA_FILE, then <state-dir>/tls/ca.crt)"},
      {"cert-file", '\0', "FILE",
       "client certificate for a tetherd that asks for one\n"
       "(default: $TETHER_CERT_FILE)"},
      {"key-file", '\0', "FILE",
       "key of --cert-file (default: $TETHER_KEY_FILE)"},
  };
}

FlagSpec OutputFlag() {
  return {"output", 'o', "FORMAT", "text (default) or json"};
}

absl::StatusOr<bool> WantJson(const ParsedArgs& args) {
  const std::string format = args.Get("output", "text");
  if (format == "json") return true;
  if (format == "text") return false;
  return absl::InvalidArgumentError(absl::StrCat(
      "--output: unknown format ", Quote(format), " (use text or json)"));
}

absl::StatusOr<std::string> ExistingDir(absl::string_view label,
                                        const std::string& path) {
  struct stat st;
  char resolved[PATH_MAX];
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      realpath(path.c_str(), resolved) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": ", Quote(path, 4096), " is not a directory"));
  }
  return std::string(resolved);
}

absl::StatusOr<std::string> CodeDir(const ParsedArgs& args,
                                    const std::string& from_file) {
  if (!args.Has("code")) return from_file;
  return ExistingDir("--code", args.Get("code"));
}

int Fail(Context& ctx, const absl::Status& status) {
  // Remote messages (tracebacks) often end with a newline of their own.
  *ctx.err << "error: " << absl::StripTrailingAsciiWhitespace(status.message())
           << std::endl;
  return ExitCodeFor(status);
}

int UsageError(Context& ctx, const CommandSpec& spec,
               absl::string_view message) {
  *ctx.err << "error: " << message << "\n"
           << "Run 'tether " << spec.name << " --help' for usage." << std::endl;
  return kExitUsage;
}

std::optional<ServiceInputs> LoadServiceInputs(const CommandSpec& command,
                                               const ParsedArgs& args,
                                               Context& ctx, int* exit_code) {
  absl::StatusOr<servicespec::ServiceFile> file =
      servicespec::LoadServiceFile(args.Get("file"));
  if (!file.ok()) {
    Fail(ctx, file.status());
    *exit_code = kExitUsage;
    return std::nullopt;
  }
  absl::StatusOr<std::string> code_dir = CodeDir(args, file->code_dir);
  if (!code_dir.ok()) {
    *exit_code = UsageError(ctx, command, code_dir.status().message());
    return std::nullopt;
  }
  return ServiceInputs{*std::move(file), *std::move(code_dir)};
}

std::optional<DeployTarget> OpenDeployTarget(const CommandSpec& command,
                                             const ParsedArgs& args,
                                             Context& ctx, int* exit_code) {
  std::optional<ServiceInputs> inputs =
      LoadServiceInputs(command, args, ctx, exit_code);
  if (!inputs.has_value()) return std::nullopt;
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      ctx.connect(args, ctx.env);
  if (!connection.ok()) {
    *exit_code = Fail(ctx, connection.status());
    return std::nullopt;
  }
  DeployTarget target;
  static_cast<ServiceInputs&>(target) = *std::move(inputs);
  target.connection = *std::move(connection);
  return target;
}

}  // namespace tether::cli
