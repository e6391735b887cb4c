// The floor of any gRPC hop in front of an agent, for //tools/bench:call:
// a proxy of Agent.Invoke (and InvokeStream) with no logic at all, on the same
// gRPC and the same callback API as tetherd. The bench starts it beside
// tetherd; what tetherd costs above it is Tether's, the rest is gRPC's.
//
//   invoke_proxy --upstream=AGENT_ADDRESS --token=SERVICE_TOKEN
//       --port_file=FILE   (written once it serves)

#include <unistd.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/serving_process.h"
#include "grpcpp/grpcpp.h"
#include "tether/v1/agent.grpc.pb.h"

ABSL_FLAG(std::string, upstream, "", "the agent's Invoke address");
ABSL_FLAG(std::string, token, "", "the service token the agent checks");
ABSL_FLAG(std::string, port_file, "", "where to write the port it serves on");

namespace tether::bench {
namespace {

// Invoke on the callback API, as tetherd; InvokeStream relayed by a plain
// blocking loop, the least a relay of a stream can do.
class InvokeProxy final : public tether::v1::Agent::WithCallbackMethod_Invoke<
                              tether::v1::Agent::Service> {
 public:
  InvokeProxy(std::unique_ptr<tether::v1::Agent::Stub> upstream,
              std::string authorization)
      : upstream_(std::move(upstream)),
        authorization_(std::move(authorization)) {}

  grpc::ServerUnaryReactor* Invoke(
      grpc::CallbackServerContext* context,
      const tether::v1::InvokeRequest* request,
      tether::v1::InvokeResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    auto* client = new grpc::ClientContext;
    client->AddMetadata("authorization", authorization_);
    upstream_->async()->Invoke(client, request, response,
                               [reactor, client](grpc::Status status) {
                                 delete client;
                                 reactor->Finish(std::move(status));
                               });
    return reactor;
  }

  grpc::Status InvokeStream(
      grpc::ServerContext* context, const tether::v1::InvokeRequest* request,
      grpc::ServerWriter<tether::v1::InvokeEvent>* writer) override {
    grpc::ClientContext client;
    client.AddMetadata("authorization", authorization_);
    auto reader = upstream_->InvokeStream(&client, *request);
    tether::v1::InvokeEvent event;
    while (reader->Read(&event)) {
      if (!writer->Write(event)) {
        client.TryCancel();
        break;
      }
    }
    return reader->Finish();
  }

 private:
  const std::unique_ptr<tether::v1::Agent::Stub> upstream_;
  const std::string authorization_;
};

int Run() {
  InvokeProxy proxy(
      tether::v1::Agent::NewStub(grpc::CreateChannel(
          absl::GetFlag(FLAGS_upstream), grpc::InsecureChannelCredentials())),
      absl::StrCat("Bearer ", absl::GetFlag(FLAGS_token)));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&proxy);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  TETHER_CHECK(server != nullptr && port != 0) << "cannot listen";
  TETHER_CHECK(
      WriteFileAtomically(absl::GetFlag(FLAGS_port_file), absl::StrCat(port))
          .ok());
  server->Wait();  // Until the bench kills it.
  return 0;
}

}  // namespace
}  // namespace tether::bench

int main(int argc, char** argv) {
  tether::ConfigureServingProcess();
  absl::ParseCommandLine(argc, argv);
  return tether::bench::Run();
}
