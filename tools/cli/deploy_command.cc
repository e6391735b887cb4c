#include "tools/cli/deploy_command.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "grpcpp/client_context.h"
#include "spec/diagnostics.h"
#include "spec/service_file.h"
#include "spec/validate.h"
#include "sync/uploader.h"
#include "tools/cli/exit_codes.h"
#include "tools/cli/format.h"

namespace tether::cli {
namespace {

using tether::v1::DeployEvent;

// Width of "<name>-<last index>", so replica names line up in progress lines.
size_t ReplicaWidth(const tether::v1::ServiceSpec& spec) {
  const int replicas = spec::WithDefaults(spec).compute().replicas();
  return spec.name().size() + 1 + absl::StrCat(replicas - 1).size();
}

int RunDeploy(const CommandSpec& command, const ParsedArgs& args,
              Context& ctx) {
  const absl::Time start = ctx.now();
  if (!args.Has("file")) {
    return UsageError(ctx, command, "missing --file FILE (the service YAML)");
  }
  absl::StatusOr<bool> json = WantJson(args);
  if (!json.ok()) return UsageError(ctx, command, json.status().message());

  // Local problems are the user's input whatever their code: exit 2.
  absl::StatusOr<spec::ServiceFile> file =
      spec::LoadServiceFile(args.Get("file"));
  if (!file.ok()) {
    Fail(ctx, file.status());
    return kExitUsage;
  }
  std::string code_dir = file->code_dir;
  if (args.Has("code")) {
    const std::string flag = args.Get("code");
    struct stat st;
    char resolved[PATH_MAX];
    if (stat(flag.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        realpath(flag.c_str(), resolved) == nullptr) {
      return UsageError(ctx, command,
                        absl::StrCat("--code: ", spec::Quote(flag, 4096),
                                     " is not a directory"));
    }
    code_dir = resolved;
  }
  const tether::v1::ServiceSpec& service = file->spec;

  absl::StatusOr<std::unique_ptr<Connection>> connection =
      ctx.connect(args, ctx.env);
  if (!connection.ok()) return Fail(ctx, connection.status());
  const Connection& conn = **connection;

  // Progress goes to stderr when stdout carries JSON.
  std::ostream& progress = *json ? *ctx.err : *ctx.out;
  UploadOptions upload_options;
  upload_options.decorate = [&conn](grpc::ClientContext& context) {
    conn.Decorate(context);
  };
  const absl::Time upload_start = ctx.now();
  absl::StatusOr<UploadResult> upload =
      UploadTree(*conn.stub, code_dir, upload_options);
  if (!upload.ok()) {
    return Fail(ctx, absl::Status(upload.status().code(),
                                  absl::StrCat("uploading ", code_dir, ": ",
                                               upload.status().message())));
  }
  const std::string& revision = upload->result.revision();
  progress << "synced " << code_dir << ": revision " << ShortRevision(revision)
           << ", " << upload->files << (upload->files == 1 ? " file" : " files")
           << ", sent " << upload->blobs_sent << " new ("
           << FormatBytes(upload->result.bytes_received()) << ") in "
           << FormatSeconds(ctx.now() - upload_start) << std::endl;

  tether::v1::DeployRequest request;
  *request.mutable_spec() = service;
  request.set_revision(revision);
  grpc::ClientContext context;
  conn.Decorate(context);
  std::unique_ptr<grpc::ClientReaderInterface<DeployEvent>> reader =
      conn.stub->Deploy(&context, request);
  const size_t width = ReplicaWidth(service);
  DeployEvent event;
  while (reader->Read(&event)) {
    if (*json) {
      absl::StatusOr<std::string> line = ToJson(event, /*pretty=*/false);
      if (!line.ok()) return Fail(ctx, line.status());
      *ctx.out << *line << std::endl;
    } else {
      *ctx.out << FormatDeployEvent(event, ctx.now() - start, width)
               << std::endl;
    }
  }
  absl::Status status = FromGrpcStatus(reader->Finish());
  if (!status.ok()) return Fail(ctx, status);
  const int replicas = spec::WithDefaults(service).compute().replicas();
  progress << "service " << service.name() << " ready at revision "
           << ShortRevision(revision) << " (" << replicas
           << (replicas == 1 ? " replica" : " replicas") << ") in "
           << FormatSeconds(ctx.now() - start) << std::endl;
  return kExitOk;
}

}  // namespace

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
      "  compute: {cpus: \"1\", memory: 1Gi, replicas: 2}\n"
      "  callable: {module: hello, name: greet}\n";
  spec.flags = {
      {"file", 'f', "FILE", "service YAML (required)"},
      {"code", '\0', "DIR", "upload DIR instead of the file's code directory"},
      OutputFlag(),
  };
  for (FlagSpec& flag : ConnectionFlags()) spec.flags.push_back(flag);
  command.run = [spec](const ParsedArgs& args, Context& ctx) {
    return RunDeploy(spec, args, ctx);
  };
  return command;
}

}  // namespace tether::cli
