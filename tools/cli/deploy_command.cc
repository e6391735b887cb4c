#include "tools/cli/deploy_command.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "servicespec/service_file.h"
#include "tools/cli/deployer.h"
#include "tools/cli/exit_codes.h"

namespace tether::cli {
namespace {

int RunDeploy(const CommandSpec& command, const ParsedArgs& args,
              Context& ctx) {
  if (!args.Has("file")) {
    return UsageError(ctx, command, "missing --file FILE (the service YAML)");
  }
  // Local problems are the user's input whatever their code: exit 2.
  int exit_code = 0;
  std::optional<ServiceInputs> inputs =
      LoadServiceInputs(command, args, ctx, &exit_code);
  if (!inputs.has_value()) return exit_code;
  return DeployInputs(command, args, ctx, *inputs);
}

}  // namespace

int DeployInputs(const CommandSpec& command, const ParsedArgs& args,
                 Context& ctx, const ServiceInputs& inputs) {
  const absl::Time start = ctx.now();
  absl::StatusOr<bool> json = WantJson(args);
  if (!json.ok()) return UsageError(ctx, command, json.status().message());
  absl::Duration timeout = absl::Minutes(15);
  if (args.Has("timeout") &&
      (!absl::ParseDuration(args.Get("timeout"), &timeout) ||
       timeout < absl::ZeroDuration())) {
    return UsageError(ctx, command,
                      absl::StrCat("--timeout: \"", args.Get("timeout"),
                                   "\" is not a duration like 90s or 10m"));
  }
  if (timeout == absl::ZeroDuration()) timeout = absl::InfiniteDuration();
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      ctx.connect(args, ctx.env);
  if (!connection.ok()) return Fail(ctx, connection.status());

  Deployer deployer(**connection, ctx.now);
  DeployOutput output;
  // Progress goes to stderr when stdout carries JSON.
  output.lines = *json ? ctx.err : ctx.out;
  output.events = ctx.out;
  output.json_events = *json;
  absl::StatusOr<std::string> revision = deployer.UploadAndDeploy(
      inputs.file.spec, inputs.code_dir, start, output, timeout);
  if (!revision.ok()) return Fail(ctx, revision.status());
  return kExitOk;
}

FlagSpec DeployTimeoutFlag() {
  return {"timeout", '\0', "DURATION",
          "give up waiting after DURATION (default 15m; 0: never);\nthe "
          "deploy goes on in tetherd"};
}

Command DeployCommand() {
  Command command;
  CommandSpec& spec = command.spec;
  spec.name = "deploy";
  spec.summary = "Upload code and deploy a service described in YAML.";
  spec.description =
      "Validates the file, uploads the code directory (only what tetherd\n"
      "lacks; .gitignore and .tetherignore are honoured), then creates or\n"
      "updates the service and prints its progress until every replica\n"
      "serves the new revision. A failed import prints the remote traceback.\n"
      "\n"
      "The file holds a ServiceSpec plus an optional `code:` directory\n"
      "(relative to the file; default: the file's directory):\n"
      "\n"
      "  name: hello\n"
      "  namespace: team-a   # optional; default: tetherd's\n"
      "  compute: {cpus: \"1\", memory: 1Gi, replicas: 2}\n"
      "  callable: {module: hello, name: greet}\n";
  spec.flags = {
      {"file", 'f', "FILE", "service YAML (required)"},
      {"code", '\0', "DIR", "upload DIR instead of the file's code directory"},
      DeployTimeoutFlag(),
      OutputFlag(),
  };
  for (FlagSpec& flag : ConnectionFlags()) spec.flags.push_back(flag);
  command.run = [spec](const ParsedArgs& args, Context& ctx) {
    return RunDeploy(spec, args, ctx);
  };
  return command;
}

}  // namespace tether::cli
