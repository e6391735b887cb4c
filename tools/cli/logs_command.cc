#include "tools/cli/logs_command.h"

#include <signal.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "grpcpp/client_context.h"
#include "servicespec/validate.h"
#include "tools/cli/exit_codes.h"
#include "tools/cli/signal_catcher.h"

namespace tether::cli {
namespace {

using ::tether::v1::LogLine;
using ::tether::v1::LogsRequest;
using ::tether::v1::LogsResponse;

int RunLogs(const CommandSpec& command, const ParsedArgs& args, Context& ctx) {
  LogsRequest request;
  request.set_service(args.Positional(0));
  if (absl::Status status = servicespec::ValidateServiceName(request.service());
      !status.ok()) {
    return UsageError(ctx, command,
                      absl::StrCat("SERVICE: ", status.message()));
  }
  if (args.Has("since")) {
    absl::StatusOr<int64_t> seconds =
        servicespec::ParseDurationSeconds(args.Get("since"));
    if (!seconds.ok()) {
      return UsageError(ctx, command,
                        absl::StrCat("--since: ", seconds.status().message()));
    }
    const absl::Time since = ctx.now() - absl::Seconds(*seconds);
    request.mutable_since()->set_seconds(absl::ToUnixSeconds(since));
  }
  if (args.Has("replica")) {
    request.set_replica(args.Get("replica"));
    if (request.replica().empty()) {
      return UsageError(ctx, command, "--replica: empty replica name");
    }
  }
  request.set_follow(args.Has("follow"));

  absl::StatusOr<std::unique_ptr<Connection>> connection =
      ctx.connect(args, ctx.env);
  if (!connection.ok()) return Fail(ctx, connection.status());
  grpc::ClientContext context;
  (*connection)->Decorate(context);

  // Ctrl-C is how a follow ends, so it is success, not an interruption.
  std::atomic<bool> stopped{false};
  std::unique_ptr<SignalCatcher> catcher;
  if (request.follow()) {
    absl::StatusOr<std::unique_ptr<SignalCatcher>> created =
        SignalCatcher::Create({SIGINT, SIGTERM}, [&](int) {
          stopped = true;
          context.TryCancel();
        });
    if (!created.ok()) return Fail(ctx, created.status());
    catcher = *std::move(created);
  }
  std::unique_ptr<grpc::ClientReaderInterface<LogsResponse>> reader =
      (*connection)->stub->Logs(&context, request);
  LogsResponse response;
  while (reader->Read(&response)) {
    if (response.has_dropped()) {
      *ctx.out << std::flush;
      *ctx.err << "(… " << response.dropped().lines() << " lines dropped)"
               << std::endl;
    } else if (response.has_line()) {
      *ctx.out << FormatLogLine(response.line()) << std::endl;
    }
  }
  const grpc::Status status = reader->Finish();
  // Before `context` goes: the catcher's thread may be cancelling it.
  catcher.reset();
  if (stopped) return kExitOk;
  if (!status.ok()) {
    return Fail(ctx, (*connection)->Explain(FromGrpcStatus(status)));
  }
  return kExitOk;
}

}  // namespace

std::string FormatLogLine(const LogLine& line) {
  std::string text = line.text();
  // Printed lines keep their newline in some runtimes; one per line here.
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (line.stream() == LogLine::STREAM_LOGGING && !line.level().empty()) {
    return absl::StrCat("[", line.replica(), "] ", line.level(), " ", text);
  }
  // What a replica printed itself, as its platform kept it ("pod", "agent").
  if (line.stream() == LogLine::STREAM_UNSPECIFIED && !line.level().empty()) {
    return absl::StrCat("[", line.replica(), "] (", line.level(), ") ", text);
  }
  return absl::StrCat("[", line.replica(), "] ", text);
}

Command LogsCommand() {
  Command command;
  CommandSpec& spec = command.spec;
  spec.name = "logs";
  spec.summary = "Print a service's recent log lines; -f follows them.";
  spec.description =
      "Every replica keeps its workers' recent lines (stdout, stderr and\n"
      "logging records, in calls and outside). They print as\n"
      "\"[REPLICA] TEXT\" (\"[REPLICA] LEVEL TEXT\" for logging records),\n"
      "merged in time order. A replica whose agent is not ready (starting,\n"
      "crash looping) shows what its process printed instead, as the\n"
      "platform keeps it: \"[REPLICA] (pod) TEXT\" from its Kubernetes pod\n"
      "log, \"[REPLICA] (agent) TEXT\" from a local agent's output. Lines a\n"
      "replica dropped because its buffer was full (or the reader too slow)\n"
      "are counted on stderr. With -f new lines follow until Ctrl-C, from\n"
      "replicas that start later too.\n"
      "\n"
      "  tether logs hello --since 10m\n"
      "  tether logs hello -f --replica hello-0\n";
  spec.positionals = {{"SERVICE", false}};
  spec.flags = {
      {"follow", 'f', "", "Keep printing new lines until Ctrl-C."},
      {"since", '\0', "DURATION",
       "Only lines printed in the last DURATION (\"30s\", \"10m\", \"1h\")."},
      {"replica", '\0', "NAME", "Only this replica (e.g. hello-0)."},
  };
  for (FlagSpec& flag : ConnectionFlags()) spec.flags.push_back(flag);
  const CommandSpec copy = spec;
  command.run = [copy](const ParsedArgs& args, Context& ctx) {
    return RunLogs(copy, args, ctx);
  };
  return command;
}

}  // namespace tether::cli
