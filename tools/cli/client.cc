#include "tools/cli/client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/raw_unary_call.h"
#include "common/status_macros.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace tether::cli {
namespace {

// grpc.health.v1 is not compiled into this repo; its two messages are tiny, so
// the check goes through the generic stub with hand-encoded bytes.
constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";
// HealthCheckResponse.status (field 1, varint): SERVING = 1, NOT_SERVING = 2.
constexpr char kServing[] = {0x08, 0x01};

std::string BearerValue(absl::string_view token) {
  return absl::StrCat("Bearer ", token);
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> NewChannel(
    const std::string& address, const TlsFiles& tls) {
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                   GrpcChannelCredentials(tls));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  return grpc::CreateCustomChannel(address, credentials, args);
}

absl::Status CheckHealth(const std::shared_ptr<grpc::ChannelInterface>& channel,
                         absl::Duration timeout, absl::string_view token) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (!token.empty()) {
    context.AddMetadata("authorization", BearerValue(token));
  }
  std::string bytes;
  // An empty request: service "", the whole server.
  const grpc::Status status =
      RawUnaryCall(channel, context, kHealthCheckMethod, "", &bytes);
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      break;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return FromGrpcStatus(status);
    default:
      return absl::OkStatus();  // Something answered: that is tetherd.
  }
  if (bytes == std::string(kServing, sizeof(kServing))) return absl::OkStatus();
  return absl::UnavailableError("the health check says NOT_SERVING");
}

void Connection::Decorate(grpc::ClientContext& context) const {
  if (!token.empty()) context.AddMetadata("authorization", BearerValue(token));
}

absl::Status Connection::Explain(absl::Status status) const {
  if (!absl::IsUnavailable(status)) return status;
  switch (channel->GetState(/*try_to_connect=*/false)) {
    case GRPC_CHANNEL_IDLE:
    case GRPC_CHANNEL_CONNECTING:
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      break;
    default:
      // READY: tetherd itself answered UNAVAILABLE. SHUTDOWN: not a network
      // channel (in-process, in tests), so nothing to reach.
      return status;
  }
  return absl::UnavailableError(absl::StrCat("cannot reach tetherd at ",
                                             address, ": ", status.message(),
                                             " (start it with 'tether up')"));
}

absl::StatusOr<std::unique_ptr<Connection>> Dial(const std::string& address,
                                                 const std::string& token,
                                                 const TlsFiles& tls) {
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                   NewChannel(address, tls));
  auto connection = std::make_unique<Connection>();
  connection->address = address;
  connection->token = token;
  connection->tls = tls;
  connection->channel = channel;
  connection->stub = tether::v1::ControlPlane::NewStub(channel);
  return connection;
}

}  // namespace tether::cli
