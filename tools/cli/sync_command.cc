#include "tools/cli/sync_command.h"

#include <memory>
#include <string>

#include "nlohmann/json.hpp"
#include "tools/cli/deployer.h"
#include "tools/cli/exit_codes.h"

namespace tether::cli {
namespace {

// One JSON object, keys in proto3 JSON's lowerCamelCase.
std::string SyncJson(const sync::UploadResult& upload) {
  return nlohmann::ordered_json{
      {"revision", upload.result.revision()},
      {"files", upload.files},
      {"filesSent", upload.blobs_sent},
      {"deltasSent", upload.deltas_sent},
      {"payloadBytes", upload.result.bytes_received()},
      {"bytesSent", upload.bytes_sent},
      {"manifestDiff", upload.manifest_diff},
  }
      .dump();
}

int RunSync(const CommandSpec& command, const ParsedArgs& args, Context& ctx) {
  absl::StatusOr<bool> json = WantJson(args);
  if (!json.ok()) return UsageError(ctx, command, json.status().message());
  absl::StatusOr<std::string> code_dir =
      ExistingDir("DIR", args.Positional(0, "."));
  if (!code_dir.ok()) {
    return UsageError(ctx, command, code_dir.status().message());
  }
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      ctx.connect(args, ctx.env);
  if (!connection.ok()) return Fail(ctx, connection.status());
  const absl::Time start = ctx.now();
  Deployer deployer(**connection, ctx.now);
  absl::StatusOr<sync::UploadResult> upload = deployer.Upload(*code_dir);
  if (!upload.ok()) return Fail(ctx, upload.status());
  if (*json) {
    *ctx.out << SyncJson(*upload) << std::endl;
  } else {
    *ctx.out << FormatSynced(*code_dir, *upload, ctx.now() - start)
             << std::endl;
  }
  return kExitOk;
}

}  // namespace

Command SyncCommand() {
  Command command;
  CommandSpec& spec = command.spec;
  spec.name = "sync";
  spec.summary = "Upload a code directory; print the revision it became.";
  spec.description =
      "Uploads DIR (default: the current directory) as `tether deploy`\n"
      "does: only what tetherd lacks is sent, and after the first upload\n"
      "only what changed (.gitignore and .tetherignore are honoured).\n"
      "Nothing is deployed. With -o json it prints one object:\n"
      "\n"
      "  {\"revision\": \"...\", \"files\": N, \"filesSent\": N,\n"
      "   \"deltasSent\": N, \"payloadBytes\": N, \"bytesSent\": N,\n"
      "   \"manifestDiff\": BOOL}\n"
      "\n"
      "payloadBytes: file bytes and deltas tetherd stored; bytesSent: all\n"
      "the messages sent.\n";
  spec.positionals = {{"DIR", false}};
  spec.flags = {OutputFlag()};
  for (FlagSpec& flag : ConnectionFlags()) spec.flags.push_back(flag);
  command.run = [spec](const ParsedArgs& args, Context& ctx) {
    return RunSync(spec, args, ctx);
  };
  return command;
}

}  // namespace tether::cli
