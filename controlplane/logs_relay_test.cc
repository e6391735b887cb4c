#include "controlplane/logs_relay.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/invoke_service.h"
#include "agent/log_book.h"
#include "common/grpc_server.h"
#include "common/grpc_status.h"
#include "common/serial_executor.h"
#include "controlplane/call_router.h"
#include "controlplane/endpoints_publisher.h"
#include "controlplane/fake_backend.h"
#include "controlplane/routes.h"
#include "controlplane/service_state.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::controlplane {
namespace {

using ::tether::v1::LogLine;
using ::tether::v1::LogsRequest;
using ::tether::v1::LogsResponse;

LogLine Line(const std::string& text, int64_t seconds) {
  LogLine line;
  line.set_text(text);
  line.mutable_time()->set_seconds(seconds);
  return line;
}

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
    LogLine line = Line(text, seconds);
    line.set_replica(name);
    book.Append(line);
  }
  std::string name;
  agent::LogBook book{agent::LogBook::Options{}};
  agent::InvokeService service;
  std::unique_ptr<GrpcServer> server;
};

// A stream refused before it started.
class Refused final : public grpc::ServerWriteReactor<LogsResponse> {
 public:
  explicit Refused(const absl::Status& status) { Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

// ControlPlane.Logs reduced to the relay.
class RelayService final : public tether::v1::ControlPlane::CallbackService {
 public:
  explicit RelayService(LogsRelay::Options options)
      : options_(std::move(options)) {}
  grpc::ServerWriteReactor<LogsResponse>* Logs(
      grpc::CallbackServerContext*, const LogsRequest* request) override {
    absl::StatusOr<LogsRelay*> relay = LogsRelay::Start(*request, options_);
    if (!relay.ok()) return new Refused(relay.status());
    return *relay;
  }

 private:
  const LogsRelay::Options options_;
};

// Service "svc": its replicas as the backend has them, which of them have
// an agent attached (routes and endpoints as the ServiceManager publishes
// them), and a ControlPlane serving Logs over it.
class LogsRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LogsRelay::Options options;
    options.router = &router_;
    options.backend = &backend_;
    options.run = [this](std::function<void()> task) {
      executor_.Run(std::move(task));
    };
    options.endpoints = &endpoints_;
    relay_ = std::make_unique<RelayService>(options);
    GrpcServer::Options server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.services = {relay_.get()};
    server_ = *GrpcServer::Create(server_options);
    stub_ = tether::v1::ControlPlane::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    server_.reset();
    executor_.Shutdown();
  }

  // The backend has `replicas`; those in `attached` have an agent (a new
  // attachment each time), at the address of the FakeReplica given.
  void Publish(const std::vector<std::string>& replicas,
               const std::map<std::string, const FakeReplica*>& attached) {
    backend_.set_replicas("svc", replicas);
    ServiceState state;
    state.record.set_name("svc");
    state.record.set_token("secret");
    state.record.set_phase(tether::v1::ServiceStatus::PHASE_DEPLOYING);
    state.order = replicas;
    for (const std::string& name : replicas) {
      ReplicaState& replica = state.replicas[name];
      replica.status.set_name(name);
      auto it = attached.find(name);
      if (it == attached.end()) continue;
      auto endpoint = std::make_shared<AgentEndpoint>();
      endpoint->replica = name;
      endpoint->address = it->second->server->address();
      endpoint->stub = tether::v1::Agent::NewStub(grpc::CreateChannel(
          endpoint->address, grpc::InsecureChannelCredentials()));
      replica.endpoint = std::move(endpoint);
      replica.status.set_revision("rev-1");
    }
    routes_.OnServiceChanged(state);
    endpoints_.OnServiceChanged(state);
  }

  void Remove() {
    routes_.OnServiceRemoved("svc");
    endpoints_.OnServiceRemoved("svc");
  }

  static LogsRequest Request(const std::string& replica = "",
                             bool follow = false) {
    LogsRequest request;
    request.set_service("svc");
    request.set_replica(replica);
    request.set_follow(follow);
    return request;
  }

  // Every line of a stream without follow, as "replica:text".
  std::vector<std::string> ReadAll(const LogsRequest& request,
                                   grpc::Status* status = nullptr) {
    grpc::ClientContext context;
    auto reader = stub_->Logs(&context, request);
    std::vector<std::string> got;
    LogsResponse response;
    while (reader->Read(&response)) {
      got.push_back(
          absl::StrCat(response.line().replica(), ":", response.line().text()));
    }
    const grpc::Status finished = reader->Finish();
    if (status != nullptr) {
      *status = finished;
    } else {
      EXPECT_TRUE(finished.ok()) << finished.error_message();
    }
    return got;
  }

  // Reads until a line containing `text` came; false at the stream's end.
  static bool ReadUntil(grpc::ClientReaderInterface<LogsResponse>& reader,
                        const std::string& text, LogsResponse* response) {
    while (reader.Read(response)) {
      if (absl::StrContains(response->line().text(), text)) return true;
    }
    return false;
  }

  FakeReplica a_{"svc-0"};
  FakeReplica b_{"svc-1"};
  CallRouter router_{CallRouter::Options()};
  RoutePublisher routes_{&router_};
  EndpointsPublisher endpoints_;
  FakeBackend backend_;
  SerialExecutor executor_;
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
  Publish({"svc-0", "svc-1"}, {{"svc-0", &a_}, {"svc-1", &b_}});
  EXPECT_EQ(ReadAll(Request()),
            (std::vector<std::string>{"svc-0:a1", "svc-1:b2", "svc-0:a3",
                                      "svc-0:a4", "svc-1:b5"}));
}

TEST_F(LogsRelayTest, MoreLinesThanTheQueuesHoldAllArrive) {
  constexpr int kLines = 10 * LogsRelay::kQueuePerReplica;
  for (int i = 0; i < kLines; ++i) {
    a_.Print(absl::StrCat(2 * i), 2 * i);
    b_.Print(absl::StrCat(2 * i + 1), 2 * i + 1);
  }
  Publish({"svc-0", "svc-1"}, {{"svc-0", &a_}, {"svc-1", &b_}});
  const std::vector<std::string> got = ReadAll(Request());
  ASSERT_EQ(got.size(), 2u * kLines);
  for (int i = 0; i < 2 * kLines; ++i) {
    EXPECT_EQ(got[i], absl::StrCat("svc-", i % 2, ":", i));
  }
}

TEST_F(LogsRelayTest, AnUnreachableReplicaIsNotedAndTheOthersGoOn) {
  a_.Print("a1", 1);
  Publish({"svc-0", "svc-1"}, {{"svc-0", &a_}, {"svc-1", &b_}});
  // A port nobody listens on: b's server, shut down.
  b_.server.reset();
  const std::vector<std::string> got = ReadAll(Request());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "svc-0:a1");
  EXPECT_TRUE(
      absl::StartsWith(got[1], "svc-1:[tether: the log stream of svc-1 ended"))
      << got[1];
}

TEST_F(LogsRelayTest, FollowRelaysNewLinesUntilTheCallerCancels) {
  Publish({"svc-0", "svc-1"}, {{"svc-0", &a_}, {"svc-1", &b_}});
  grpc::ClientContext context;
  auto reader = stub_->Logs(&context, Request("", /*follow=*/true));
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

TEST_F(LogsRelayTest, ReplicasWithoutAnAgentShowWhatTheyPrinted) {
  a_.Print("a1", 1);
  a_.Print("a3", 3);
  LogLine pod = Line("p2", 2);
  pod.set_level("pod");
  backend_.set_replica_logs("svc", "svc-1",
                            std::vector<LogLine>{pod, Line("p4", 4)});
  Publish({"svc-0", "svc-1"}, {{"svc-0", &a_}});
  grpc::ClientContext context;
  auto reader = stub_->Logs(&context, Request());
  std::vector<LogLine> lines;
  LogsResponse response;
  while (reader->Read(&response)) lines.push_back(response.line());
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].text(), "a1");
  EXPECT_EQ(lines[1].text(), "p2");
  EXPECT_EQ(lines[1].replica(), "svc-1");
  EXPECT_EQ(lines[1].level(), "pod");
  EXPECT_EQ(lines[2].text(), "a3");
  EXPECT_EQ(lines[3].text(), "p4");
  // Only the one without an agent was read, once.
  EXPECT_EQ(backend_.replica_log_reads(),
            std::vector<std::string>{"svc/svc-1"});
}

TEST_F(LogsRelayTest, ANamedReplicaWithoutAnAgentShowsWhatItPrinted) {
  a_.Print("a1", 1);
  backend_.set_replica_logs("svc", "svc-1",
                            std::vector<LogLine>{Line("p2", 2)});
  Publish({"svc-0", "svc-1"}, {{"svc-0", &a_}});
  EXPECT_EQ(ReadAll(Request("svc-1")), std::vector<std::string>{"svc-1:p2"});
  EXPECT_EQ(ReadAll(Request("svc-0")), std::vector<std::string>{"svc-0:a1"});
  grpc::Status status;
  ReadAll(Request("svc-9"), &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "service \"svc\" has no replica \"svc-9\"");
  LogsRequest unknown = Request();
  unknown.set_service("nope");
  ReadAll(unknown, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(LogsRelayTest,
       WithoutReadyReplicasTheirOwnLogsShowInsteadOfUnavailable) {
  backend_.set_replica_logs("svc", "svc-0",
                            std::vector<LogLine>{Line("p1", 1)});
  Publish({"svc-0"}, {});
  EXPECT_EQ(ReadAll(Request()), std::vector<std::string>{"svc-0:p1"});
  // Without any replica there is nothing to read.
  Publish({}, {});
  grpc::Status status;
  ReadAll(Request(), &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(),
            "no replica of service \"svc\" is running: deploying");
}

TEST_F(LogsRelayTest, AnUnreadableOwnLogIsNotedAndFailsOnlyAlone) {
  a_.Print("a1", 1);
  backend_.set_replica_logs("svc", "svc-1",
                            absl::PermissionDeniedError("pods/log is denied"));
  Publish({"svc-0", "svc-1"}, {{"svc-0", &a_}});
  std::vector<std::string> got = ReadAll(Request());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "svc-0:a1");
  EXPECT_EQ(got[1],
            "svc-1:[tether: what svc-1 printed could not be read: "
            "PERMISSION_DENIED: pods/log is denied]");
  grpc::Status status;
  got = ReadAll(Request("svc-1"), &status);
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(LogsRelayTest, ACancelDoesNotWaitForAnOwnLogRead) {
  backend_.HoldReplicaLogs(true);
  Publish({"svc-0", "svc-1"}, {{"svc-0", &a_}});
  grpc::ClientContext context;
  auto reader = stub_->Logs(&context, Request());
  // The read waits on the relay's executor, not on a gRPC thread.
  backend_.AwaitReplicaLogReads(1);
  context.TryCancel();
  LogsResponse response;
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  backend_.HoldReplicaLogs(false);
}

TEST_F(LogsRelayTest, FollowPicksUpAReplicaThatBecomesReady) {
  Publish({"svc-0", "svc-1"}, {{"svc-0", &a_}});
  grpc::ClientContext context;
  auto reader = stub_->Logs(&context, Request("", /*follow=*/true));
  a_.Print("a-first", 10);
  LogsResponse response;
  ASSERT_TRUE(ReadUntil(*reader, "a-first", &response));
  // Printed while it loaded, before its agent attached: not missed.
  b_.Print("b-loading", 11);
  Publish({"svc-0", "svc-1"}, {{"svc-0", &a_}, {"svc-1", &b_}});
  ASSERT_TRUE(ReadUntil(*reader, "b-loading", &response));
  EXPECT_EQ(response.line().replica(), "svc-1");
  b_.Print("b-serving", 12);
  ASSERT_TRUE(ReadUntil(*reader, "b-serving", &response));
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(LogsRelayTest, FollowResumesAReplicaAfterItsLastLine) {
  a_.Print("one", 1);
  Publish({"svc-0"}, {{"svc-0", &a_}});
  grpc::ClientContext context;
  auto reader = stub_->Logs(&context, Request("", /*follow=*/true));
  LogsResponse response;
  ASSERT_TRUE(ReadUntil(*reader, "one", &response));
  // The same attachment again: its stream is open, nothing repeats.
  Publish({"svc-0"}, {{"svc-0", &a_}});
  // Its agent goes away and one that kept its book attaches again.
  a_.server.reset();
  FakeReplica again("svc-0");
  again.Print("one", 1);
  again.Print("two", 2);
  Publish({"svc-0"}, {{"svc-0", &again}});
  // Perhaps a line saying the first stream ended, then "two" only.
  std::vector<std::string> texts;
  do {
    ASSERT_TRUE(reader->Read(&response));
    texts.push_back(response.line().text());
  } while (texts.back() != "two");
  EXPECT_EQ(std::count(texts.begin(), texts.end(), "one"), 0);
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(LogsRelayTest, DeletingTheServiceEndsAFollow) {
  a_.Print("a1", 1);
  Publish({"svc-0"}, {{"svc-0", &a_}});
  grpc::ClientContext context;
  auto reader = stub_->Logs(&context, Request("", /*follow=*/true));
  LogsResponse response;
  ASSERT_TRUE(ReadUntil(*reader, "a1", &response));
  Remove();
  ASSERT_TRUE(
      ReadUntil(*reader, "[tether: service svc was deleted]", &response));
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_TRUE(reader->Finish().ok());
}

}  // namespace
}  // namespace tether::controlplane
