#include "tools/cli/service_commands.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/diagnostics.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "grpcpp/client_context.h"
#include "servicespec/validate.h"
#include "tools/cli/exit_codes.h"
#include "tools/cli/format.h"

namespace tether::cli {
namespace {

// Deadline for the short control calls: tetherd answers them from memory.
constexpr absl::Duration kRpcTimeout = absl::Seconds(30);

void Prepare(const Connection& connection, grpc::ClientContext& context) {
  connection.Decorate(context);
  context.set_deadline(absl::ToChronoTime(absl::Now() + kRpcTimeout));
}

// Connects to tetherd and makes one control call with `call(stub, context)`.
template <typename Call>
absl::Status CallTetherd(const ParsedArgs& args, Context& ctx, Call call) {
  ASSIGN_OR_RETURN(const std::unique_ptr<Connection> connection,
                   ctx.connect(args, ctx.env));
  grpc::ClientContext context;
  Prepare(*connection, context);
  return connection->Explain(FromGrpcStatus(call(*connection->stub, &context)));
}

// The SERVICE argument; INVALID_ARGUMENT naming it when malformed.
absl::StatusOr<std::string> ServiceArg(const ParsedArgs& args) {
  std::string name = args.Positional(0);
  if (absl::Status status = servicespec::ValidateServiceName(name);
      !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SERVICE: ", status.message()));
  }
  return name;
}

// Prints `message` as pretty JSON on ctx.out.
int PrintJson(Context& ctx, const google::protobuf::Message& message) {
  absl::StatusOr<std::string> text = ToJson(message, /*pretty=*/true);
  if (!text.ok()) return Fail(ctx, text.status());
  *ctx.out << *text << std::endl;
  return kExitOk;
}

int RunList(const CommandSpec& command, const ParsedArgs& args, Context& ctx) {
  absl::StatusOr<bool> json = WantJson(args);
  if (!json.ok()) return UsageError(ctx, command, json.status().message());
  tether::v1::ListServicesResponse response;
  absl::Status status =
      CallTetherd(args, ctx, [&](auto& stub, grpc::ClientContext* context) {
        return stub.ListServices(context, tether::v1::ListServicesRequest(),
                                 &response);
      });
  if (!status.ok()) return Fail(ctx, status);
  if (*json) return PrintJson(ctx, response);
  if (response.services().empty()) {
    *ctx.err << "no services" << std::endl;
  } else {
    *ctx.out << FormatServiceList(response, ctx.now()) << std::flush;
  }
  *ctx.err << FormatUninjectedNote(response) << std::flush;
  return kExitOk;
}

int RunStatus(const CommandSpec& command, const ParsedArgs& args,
              Context& ctx) {
  absl::StatusOr<std::string> name = ServiceArg(args);
  if (!name.ok()) return UsageError(ctx, command, name.status().message());
  absl::StatusOr<bool> json = WantJson(args);
  if (!json.ok()) return UsageError(ctx, command, json.status().message());
  tether::v1::GetServiceRequest request;
  request.set_name(*name);
  tether::v1::ServiceStatus response;
  absl::Status status =
      CallTetherd(args, ctx, [&](auto& stub, grpc::ClientContext* context) {
        return stub.GetService(context, request, &response);
      });
  if (!status.ok()) return Fail(ctx, status);
  if (*json) return PrintJson(ctx, response);
  *ctx.out << FormatServiceStatus(response, ctx.now())
           << FormatUninjectedPods(response, ctx.now()) << std::flush;
  return kExitOk;
}

int RunDown(const CommandSpec& command, const ParsedArgs& args, Context& ctx) {
  absl::StatusOr<std::string> name = ServiceArg(args);
  if (!name.ok()) return UsageError(ctx, command, name.status().message());
  tether::v1::DeleteServiceRequest request;
  request.set_name(*name);
  tether::v1::DeleteServiceResponse response;
  absl::Status status =
      CallTetherd(args, ctx, [&](auto& stub, grpc::ClientContext* context) {
        return stub.DeleteService(context, request, &response);
      });
  if (!status.ok()) return Fail(ctx, status);
  *ctx.out << "service " << *name << " deleted" << std::endl;
  return kExitOk;
}

// The N of `tether scale`; INVALID_ARGUMENT naming it unless it is a
// non-negative integer that fits the API's int32.
absl::StatusOr<int32_t> ReplicasArg(const ParsedArgs& args) {
  const std::string text = args.Positional(1);
  int32_t replicas = 0;
  if (!absl::SimpleAtoi(text, &replicas) || replicas < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "N: expected a number of replicas (0 or more), got ", Quote(text)));
  }
  return replicas;
}

// What `tether scale` says happened, from the status tetherd returned.
std::string ScaleOutcome(const tether::v1::ServiceStatus& status,
                         int32_t replicas) {
  if (replicas == 0) {
    return absl::StrCat(status.name(),
                        ": scaled to 0 (idle; the next call wakes it)");
  }
  return absl::StrCat(status.name(), ": scaling to ", replicas,
                      replicas == 1 ? " replica" : " replicas",
                      " (until the next deploy)");
}

int RunScale(const CommandSpec& command, const ParsedArgs& args, Context& ctx) {
  absl::StatusOr<std::string> name = ServiceArg(args);
  if (!name.ok()) return UsageError(ctx, command, name.status().message());
  absl::StatusOr<int32_t> replicas = ReplicasArg(args);
  if (!replicas.ok()) {
    return UsageError(ctx, command, replicas.status().message());
  }
  absl::StatusOr<bool> json = WantJson(args);
  if (!json.ok()) return UsageError(ctx, command, json.status().message());
  tether::v1::ScaleServiceRequest request;
  request.set_name(*name);
  request.set_replicas(*replicas);
  tether::v1::ServiceStatus response;
  absl::Status status =
      CallTetherd(args, ctx, [&](auto& stub, grpc::ClientContext* context) {
        return stub.ScaleService(context, request, &response);
      });
  if (!status.ok()) return Fail(ctx, status);
  if (*json) return PrintJson(ctx, response);
  *ctx.out << ScaleOutcome(response, *replicas) << std::endl;
  return kExitOk;
}

// Binds a run function that needs its own spec (for usage errors).
Command Make(CommandSpec spec,
             int (*run)(const CommandSpec&, const ParsedArgs&, Context&)) {
  Command command;
  command.spec = std::move(spec);
  const CommandSpec copy = command.spec;
  command.run = [copy, run](const ParsedArgs& args, Context& ctx) {
    return run(copy, args, ctx);
  };
  return command;
}

std::vector<FlagSpec> WithConnectionFlags(std::vector<FlagSpec> flags) {
  for (FlagSpec& flag : ConnectionFlags()) flags.push_back(flag);
  return flags;
}

}  // namespace

Command ListCommand() {
  CommandSpec spec;
  spec.name = "ls";
  spec.summary = "List services.";
  spec.description =
      "Columns: NAMESPACE, NAME, PHASE, REPLICAS (ready/desired), REVISION\n"
      "(short), ACTIVE (last activity: \"12s ago\", \"never\"), IN-FLIGHT\n"
      "(calls running), TTL (when the inactivity TTL acts: \"in 4m\",\n"
      "\"deletes in 4m\", \"idle\" while parked, \"-\" when it will not), "
      "AGE.\n"
      "With a scoped API token, only the services it may use.\n";
  spec.flags = WithConnectionFlags({OutputFlag()});
  return Make(std::move(spec), RunList);
}

Command StatusCommand() {
  CommandSpec spec;
  spec.name = "status";
  spec.summary = "Show a service and its replicas.";
  spec.positionals = {{"SERVICE", false}};
  spec.flags = WithConnectionFlags({OutputFlag()});
  return Make(std::move(spec), RunStatus);
}

Command DownCommand() {
  CommandSpec spec;
  spec.name = "down";
  spec.summary = "Delete a service and stop its replicas.";
  spec.positionals = {{"SERVICE", false}};
  spec.flags = WithConnectionFlags({});
  return Make(std::move(spec), RunDown);
}

Command ScaleCommand() {
  CommandSpec spec;
  spec.name = "scale";
  spec.summary = "Set how many replicas a service runs, until the next deploy.";
  spec.description =
      "N = 0 parks the service (phase Idle): its replicas stop and the next\n"
      "call wakes it. A distributed service runs 0 or all of its workers.\n"
      "The next deploy goes back to the spec's count.\n"
      "\n"
      "  tether scale hello 0\n"
      "  tether scale hello 3\n";
  spec.positionals = {{"SERVICE", false}, {"N", false}};
  spec.flags = WithConnectionFlags({OutputFlag()});
  return Make(std::move(spec), RunScale);
}

}  // namespace tether::cli
