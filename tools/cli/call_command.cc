#include "tools/cli/call_command.h"

#include <algorithm>
#include <iostream>
#include <iterator>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cpp/direct_caller.h"
#include "common/diagnostics.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "grpcpp/client_context.h"
#include "servicespec/validate.h"
#include "tools/cli/call_io.h"
#include "tools/cli/exit_codes.h"

namespace tether::cli {
namespace {

// --raw-file/--pickle-file contents; "-" reads stdin.
absl::StatusOr<std::string> ReadPayload(absl::string_view flag,
                                        const std::string& path) {
  if (path == "-") {
    std::string data((std::istreambuf_iterator<char>(std::cin)),
                     std::istreambuf_iterator<char>());
    return data;
  }
  absl::StatusOr<std::string> data = ReadFile(path);
  if (!data.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": ", data.status().message()));
  }
  return data;
}

// tetherd's trailing metadata on a call that had to wake its service from
// zero: the milliseconds the call waited for a replica.

// "(hello was scaled to zero; woke it in 412 ms)\n", or "" when the call did
// not wake the service.
std::string WakeNote(const std::optional<absl::Duration>& woke_after,
                     const std::string& service) {
  if (!woke_after.has_value()) return "";
  return absl::StrCat("(", service, " was scaled to zero; woke it in ",
                      absl::ToInt64Milliseconds(*woke_after), " ms)\n");
}

// A caller of `service`'s agents, following its endpoints on tetherd.
absl::StatusOr<std::unique_ptr<client::DirectCaller>> NewDirectCaller(
    const Connection& connection, const std::string& service) {
  client::DirectCaller::Options options;
  options.tetherd = connection.channel;
  options.api_token = connection.token;
  options.agent_ca_file = connection.tls.ca_file;
  options.service = service;
  return client::DirectCaller::Create(options);
}

void PrepareForTetherd(const Connection& connection, absl::Time deadline,
                       grpc::ClientContext& context) {
  connection.Decorate(context);
  if (deadline < absl::InfiniteFuture()) {
    context.set_deadline(absl::ToChronoTime(deadline));
  }
}

// Runs `request`: straight to the agents (tetherd publishes their
// endpoints), or through tetherd with `via_tetherd`, for --all, and
// whenever the agents cannot be reached.
absl::Status RunOnService(const Connection& connection,
                          const tether::v1::CallRequest& request,
                          bool via_tetherd, absl::Time deadline,
                          tether::v1::CallResponse* response,
                          client::CallInfo* info) {
  if (!via_tetherd) {
    ASSIGN_OR_RETURN(std::unique_ptr<client::DirectCaller> caller,
                     NewDirectCaller(connection, request.service()));
    return caller->Call(request, response, deadline, info);
  }
  grpc::ClientContext context;
  PrepareForTetherd(connection, deadline, context);
  absl::Status status =
      FromGrpcStatus(connection.stub->Call(&context, request, response));
  info->woke_after = client::WokeAfter(context);
  return status;
}

// Runs `request` as a stream, straight to an agent unless `via_tetherd`,
// printing each event as it arrives. Returns the stream's status; the exit
// code of what the call printed goes to `exit_code`.
absl::Status StreamOnService(const Connection& connection,
                             const tether::v1::CallRequest& request,
                             bool via_tetherd, absl::Time deadline,
                             Context& ctx, client::CallInfo* info,
                             int* exit_code) {
  auto print = [&](const tether::v1::InvokeEvent& event) {
    const CallOutput output = RenderInvokeEvent(event, request.codec());
    *ctx.err << output.err << std::flush;
    *ctx.out << output.out << std::flush;
    *exit_code = std::max(*exit_code, output.exit_code);
    return true;
  };
  if (!via_tetherd) {
    ASSIGN_OR_RETURN(std::unique_ptr<client::DirectCaller> caller,
                     NewDirectCaller(connection, request.service()));
    return caller->Stream(request, deadline, print, info);
  }
  grpc::ClientContext context;
  PrepareForTetherd(connection, deadline, context);
  auto reader = connection.stub->CallStream(&context, request);
  tether::v1::InvokeEvent event;
  while (reader->Read(&event)) print(event);
  absl::Status status = FromGrpcStatus(reader->Finish());
  info->woke_after = client::WokeAfter(context);
  return status;
}

void PrintLatency(const ParsedArgs& args, absl::Duration latency,
                  Context& ctx) {
  if (!args.Has("time")) return;
  *ctx.err << absl::StrFormat("latency: %.3f ms",
                              absl::ToDoubleMilliseconds(latency))
           << std::endl;
}

int RunCall(const CommandSpec& command, const ParsedArgs& args, Context& ctx) {
  CallInput input;
  input.service = args.Positional(0);
  input.method = args.Positional(1);
  if (absl::Status status = servicespec::ValidateServiceName(input.service);
      !status.ok()) {
    return UsageError(ctx, command,
                      absl::StrCat("SERVICE: ", status.message()));
  }
  absl::StatusOr<bool> json = WantJson(args);
  if (!json.ok()) return UsageError(ctx, command, json.status().message());
  double timeout_seconds = 0;
  if (args.Has("timeout") &&
      (!absl::SimpleAtod(args.Get("timeout"), &timeout_seconds) ||
       !(timeout_seconds > 0))) {
    return UsageError(
        ctx, command,
        absl::StrCat("--timeout: expected a positive number of seconds, got ",
                     Quote(args.Get("timeout"))));
  }
  if (args.Has("json")) input.json = args.Get("json");
  for (const char* flag : {"raw-file", "pickle-file"}) {
    if (!args.Has(flag)) continue;
    absl::StatusOr<std::string> data = ReadPayload(flag, args.Get(flag));
    if (!data.ok()) return UsageError(ctx, command, data.status().message());
    (std::string(flag) == "raw-file" ? input.raw : input.pickle) =
        std::move(*data);
  }
  input.all = args.Has("all");
  input.replica = args.Get("replica");
  absl::StatusOr<tether::v1::CallRequest> request = BuildCallRequest(input);
  if (!request.ok()) {
    return UsageError(ctx, command, request.status().message());
  }

  absl::StatusOr<std::unique_ptr<Connection>> connection =
      ctx.connect(args, ctx.env);
  if (!connection.ok()) return Fail(ctx, connection.status());
  const absl::Time deadline = timeout_seconds > 0
                                  ? absl::Now() + absl::Seconds(timeout_seconds)
                                  : absl::InfiniteFuture();
  const bool stream = args.Has("stream") || args.Has("logs");
  if (stream && input.all) {
    return UsageError(ctx, command,
                      "--stream and --logs run on one replica, not --all");
  }
  request->set_logs(args.Has("logs"));
  tether::v1::CallResponse response;
  client::CallInfo info;
  int stream_exit_code = 0;
  const absl::Time start = ctx.now();
  const bool via_tetherd = args.Has("via-tetherd") || input.all;
  absl::Status status =
      (*connection)
          ->Explain(stream ? StreamOnService(**connection, *request,
                                             via_tetherd, deadline, ctx, &info,
                                             &stream_exit_code)
                           : RunOnService(**connection, *request, via_tetherd,
                                          deadline, &response, &info));
  const absl::Duration latency = ctx.now() - start;
  // A note, not an error: said even when the woken service then failed.
  *ctx.err << WakeNote(info.woke_after, input.service);
  if (absl::IsDeadlineExceeded(status) && timeout_seconds > 0) {
    status = absl::DeadlineExceededError(absl::StrCat(
        "the call did not finish within --timeout ", args.Get("timeout"), "s"));
  }
  if (!status.ok()) return Fail(ctx, status);
  if (stream) {
    PrintLatency(args, latency, ctx);
    return stream_exit_code;
  }

  const CallOutput output =
      RenderCallResponse(response, request->codec(), input.all, *json);
  *ctx.err << output.err;
  *ctx.out << output.out << std::flush;
  PrintLatency(args, latency, ctx);
  return output.exit_code;
}

}  // namespace

Command CallCommand() {
  Command command;
  CommandSpec& spec = command.spec;
  spec.name = "call";
  spec.summary = "Call a deployed service.";
  spec.description =
      "Prints the result on stdout (JSON pretty-printed, raw and pickled\n"
      "bytes as they are), the code's captured output on stderr prefixed by\n"
      "replica, and a remote exception as its traceback on stderr (exit 1).\n"
      "METHOD names the method of a class service; function services take\n"
      "none. Without a payload flag the call has no arguments. A call that\n"
      "wakes a service scaled to zero says so on stderr, with the wait.\n"
      "Calls go straight to the service's agents (tetherd publishes where\n"
      "they are); through tetherd with --via-tetherd or --all, when no\n"
      "replica is ready (tetherd wakes a service at zero) or when the\n"
      "agents cannot be reached from here. --stream prints a generator's\n"
      "items one per line as they come; --logs the call's output live.\n"
      "\n"
      "  tether call hello --json '{\"args\": [\"world\"]}'\n"
      "  tether call model predict --raw-file input.bin > output.bin\n";
  spec.positionals = {{"SERVICE", false}, {"METHOD", true}};
  spec.flags = {
      {"json", '\0', "JSON",
       "{\"args\": [...], \"kwargs\": {...}} (codec json)"},
      {"raw-file", '\0', "FILE",
       "FILE's bytes as one argument (codec raw; - = stdin)"},
      {"pickle-file", '\0', "FILE",
       "FILE holds pickled (args, kwargs) (codec pickle)"},
      {"all", '\0', "", "call every ready replica; results in replica order"},
      {"replica", '\0', "NAME", "call this replica (e.g. hello-1)"},
      {"time", '\0', "", "print the call's round-trip latency on stderr"},
      {"timeout", '\0', "SECONDS", "give up after SECONDS (exit 4)"},
      {"stream", '\0', "", "print a generator's items as it yields them"},
      {"logs", '\0', "",
       "print the call's log lines as they are printed (implies --stream)"},
      {"via-tetherd", '\0', "",
       "send the call through tetherd instead of straight to the agents"},
      OutputFlag(),
  };
  for (FlagSpec& flag : ConnectionFlags()) spec.flags.push_back(flag);
  command.run = [spec](const ParsedArgs& args, Context& ctx) {
    return RunCall(spec, args, ctx);
  };
  return command;
}

}  // namespace tether::cli
