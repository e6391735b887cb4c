#include "controlplane/logs_relay.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/invoke_service.h"
#include "agent/log_book.h"
#include "common/grpc_server.h"
#include "controlplane/call_router.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::controlplane {
namespace {

using ::tether::v1::LogLine;
using ::tether::v1::LogsRequest;
using ::tether::v1::LogsResponse;

// One replica's agent, serving Agent.Logs from its own book.
struct FakeReplica {
  explicit FakeReplica(const std::string& name)
      : name(name),
        service(nullptr, nullptr, nullptr, "secret", 64 << 20, name, &book) {
    GrpcServer::Options options;
    options.listen_address = "127.0.0.1:0";
    options.services = {&service};
    server = *GrpcServer::Create(options);
  }
  void Print(const std::string& text, int64_t seconds) {
    LogLine line;
    line.set_text(text);
    line.set_replica(name);
    line.mutable_time()->set_seconds(seconds);
    book.Append(line);
  }
  std::string name;
  agent::LogBook book{agent::LogBook::Options{}};
  agent::InvokeService service;
  std::unique_ptr<GrpcServer> server;
};

// ControlPlane.Logs reduced to the relay, over the given replicas.
class RelayService final : public tether::v1::ControlPlane::CallbackService {
 public:
  explicit RelayService(std::vector<std::string> addresses)
      : addresses_(std::move(addresses)) {}
  grpc::ServerWriteReactor<LogsResponse>* Logs(
      grpc::CallbackServerContext*, const LogsRequest* request) override {
    std::vector<std::shared_ptr<AgentEndpoint>> endpoints;
    for (size_t i = 0; i < addresses_.size(); ++i) {
      auto endpoint = std::make_shared<AgentEndpoint>();
      endpoint->replica = absl::StrCat("svc-", i);
      endpoint->address = addresses_[i];
      endpoint->stub = tether::v1::Agent::NewStub(grpc::CreateChannel(
          addresses_[i], grpc::InsecureChannelCredentials()));
      endpoints.push_back(std::move(endpoint));
    }
    return new LogsRelay(*request, std::move(endpoints), "Bearer secret");
  }

 private:
  const std::vector<std::string> addresses_;
};

class LogsRelayTest : public ::testing::Test {
 protected:
  void Serve(std::vector<std::string> addresses) {
    relay_ = std::make_unique<RelayService>(std::move(addresses));
    GrpcServer::Options options;
    options.listen_address = "127.0.0.1:0";
    options.services = {relay_.get()};
    server_ = *GrpcServer::Create(options);
    stub_ = tether::v1::ControlPlane::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  FakeReplica a_{"svc-0"};
  FakeReplica b_{"svc-1"};
  std::unique_ptr<RelayService> relay_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<tether::v1::ControlPlane::Stub> stub_;
};

TEST_F(LogsRelayTest, MergesReplicasInTimeOrder) {
  a_.Print("a1", 1);
  a_.Print("a3", 3);
  a_.Print("a4", 4);
  b_.Print("b2", 2);
  b_.Print("b5", 5);
  Serve({a_.server->address(), b_.server->address()});
  grpc::ClientContext context;
  auto reader = stub_->Logs(&context, LogsRequest());
  std::vector<std::string> got;
  LogsResponse response;
  while (reader->Read(&response)) got.push_back(response.line().text());
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(got, (std::vector<std::string>{"a1", "b2", "a3", "a4", "b5"}));
}

TEST_F(LogsRelayTest, MoreLinesThanTheQueuesHoldAllArrive) {
  constexpr int kLines = 10 * LogsRelay::kQueuePerReplica;
  for (int i = 0; i < kLines; ++i) {
    a_.Print(absl::StrCat(2 * i), 2 * i);
    b_.Print(absl::StrCat(2 * i + 1), 2 * i + 1);
  }
  Serve({a_.server->address(), b_.server->address()});
  grpc::ClientContext context;
  auto reader = stub_->Logs(&context, LogsRequest());
  int next = 0;
  LogsResponse response;
  while (reader->Read(&response)) {
    EXPECT_EQ(response.line().text(), absl::StrCat(next));
    ++next;
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(next, 2 * kLines);
}

TEST_F(LogsRelayTest, AnUnreachableReplicaIsNotedAndTheOthersGoOn) {
  a_.Print("a1", 1);
  // A port nobody listens on: b's server, shut down.
  const std::string gone = b_.server->address();
  b_.server.reset();
  Serve({a_.server->address(), gone});
  grpc::ClientContext context;
  auto reader = stub_->Logs(&context, LogsRequest());
  std::vector<std::string> got;
  LogsResponse response;
  while (reader->Read(&response)) got.push_back(response.line().text());
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "a1");
  EXPECT_NE(got[1].find("log stream of svc-1 ended"), std::string::npos)
      << got[1];
}

TEST_F(LogsRelayTest, FollowRelaysNewLinesUntilTheCallerCancels) {
  Serve({a_.server->address(), b_.server->address()});
  grpc::ClientContext context;
  LogsRequest request;
  request.set_follow(true);
  auto reader = stub_->Logs(&context, request);
  b_.Print("later", 10);
  LogsResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.line().text(), "later");
  EXPECT_EQ(response.line().replica(), "svc-1");
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace tether::controlplane
