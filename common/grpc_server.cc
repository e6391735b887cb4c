#include "common/grpc_server.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/message_limits.h"
#include "common/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"

namespace tether {

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Create(
    Options options) {
  // Both are process-wide switches read when a server is built; setting
  // them here keeps them next to the only code that builds servers.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   GrpcServerCredentials(options.tls));
  grpc::ServerBuilder builder;
  // Without this gRPC sets SO_REUSEPORT, and a second server on a taken
  // port would "succeed" and split the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  builder.AddListeningPort(options.listen_address, credentials, &port);
  builder.SetMaxReceiveMessageSize(MaxMessageBytes(options.max_payload_bytes));
  builder.SetMaxSendMessageSize(MaxMessageBytes(options.max_payload_bytes));
  grpc::ResourceQuota quota("tether-server");
  quota.SetMaxThreads(options.max_threads);
  builder.SetResourceQuota(quota);
  for (grpc::Service* service : options.services) {
    builder.RegisterService(service);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  // Unix sockets have no port; TCP listeners must have got one.
  const bool unix_socket = absl::StartsWith(options.listen_address, "unix");
  if (server == nullptr || (!unix_socket && port == 0)) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address));
  }
  if (unix_socket) port = 0;  // gRPC reports 1 for a bound socket.
  std::string address =
      unix_socket ? options.listen_address
                  : absl::StrCat(options.listen_address.substr(
                                     0, options.listen_address.rfind(':')),
                                 ":", port);
  return std::unique_ptr<GrpcServer>(
      new GrpcServer(std::move(server), port, std::move(address)));
}

GrpcServer::GrpcServer(std::unique_ptr<grpc::Server> server, int port,
                       std::string address)
    : server_(std::move(server)), port_(port), address_(std::move(address)) {}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

void GrpcServer::Shutdown(absl::Duration grace) {
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
}

}  // namespace tether
