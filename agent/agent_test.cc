// The agent against a fake tetherd gateway that lets each test decide which
// revision to load and when, with real workers.

#include "agent/agent.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/fake_otlp_receiver.h"
#include "agent/otlp_exporter.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/http_test_client.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sync/revision_builder.h"
#include "sync/tree.h"
#include "tether/v1/agent.grpc.pb.h"

namespace tether::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::tether::v1::AgentCommand;
using ::tether::v1::AgentHello;
using ::tether::v1::AgentMessage;
using ::tether::v1::LoadRevision;
using ::tether::v1::RevisionState;

std::string TempDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  EXPECT_TRUE(RemoveAll(dir).ok());
  EXPECT_TRUE(MakeDirs(dir).ok());
  return dir;
}

// AgentGateway with revisions served from directories and commands sent
// when the test says so. Thread-safe.
class FakeGateway final : public tether::v1::AgentGateway::Service {
 public:
  // Serves `files` as a revision; returns its id.
  std::string AddRevision(const std::map<std::string, std::string>& files) {
    const std::string dir = TempDir(absl::StrCat("src", ++sources_));
    for (const auto& [path, contents] : files) {
      EXPECT_TRUE(WriteFileAtomically(dir + "/" + path, contents).ok());
    }
    absl::StatusOr<tether::v1::Tree> tree = sync::ScanTree(dir, {});
    EXPECT_TRUE(tree.ok()) << tree.status();
    const std::string revision = sync::TreeId(*tree);
    absl::MutexLock lock(&mu_);
    revisions_[revision] = dir;
    return revision;
  }

  // Sends `load` to the attached agent (waiting for one to attach).
  void Send(const LoadRevision& load) {
    absl::MutexLock lock(&mu_);
    auto attached = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stream_ != nullptr;
    };
    ASSERT_TRUE(
        mu_.AwaitWithTimeout(absl::Condition(&attached), absl::Seconds(60)));
    AgentCommand command;
    *command.mutable_load() = load;
    EXPECT_TRUE(stream_->Write(command));
  }

  // The final state the agent reported for `generation` (READY or FAILED),
  // waiting for it; its `error` for FAILED.
  RevisionState WaitForOutcome(int64_t generation) {
    absl::MutexLock lock(&mu_);
    const RevisionState* found = nullptr;
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const RevisionState& state : states_) {
        if (state.generation() == generation &&
            (state.state() == RevisionState::STATE_READY ||
             state.state() == RevisionState::STATE_FAILED)) {
          found = &state;
          return true;
        }
      }
      return false;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(60))) {
      ADD_FAILURE() << "no outcome for generation " << generation;
      return RevisionState();
    }
    return *found;
  }

  // Every state reported for `generation`, in order.
  std::vector<RevisionState::State> States(int64_t generation) {
    absl::MutexLock lock(&mu_);
    std::vector<RevisionState::State> out;
    for (const RevisionState& state : states_) {
      if (state.generation() == generation) out.push_back(state.state());
    }
    return out;
  }

  // The hello of the `n`th attach (from 1), waiting for it.
  AgentHello WaitForHello(size_t n) {
    absl::MutexLock lock(&mu_);
    auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return hellos_.size() >= n;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&arrived), absl::Seconds(60))) {
      ADD_FAILURE() << "no attach #" << n;
      return AgentHello();
    }
    return hellos_[n - 1];
  }

  int pulls() {
    absl::MutexLock lock(&mu_);
    return pulls_;
  }

  // The next `n` attaches fail with UNAVAILABLE.
  void RefuseAttaches(int n) {
    absl::MutexLock lock(&mu_);
    refusals_ = n;
  }

  grpc::Status Attach(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<AgentCommand, AgentMessage>* stream) override {
    {
      absl::MutexLock lock(&mu_);
      if (refusals_ > 0) {
        --refusals_;
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "busy");
      }
    }
    AgentMessage message;
    if (!stream->Read(&message) || !message.has_hello()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello first");
    }
    {
      absl::MutexLock lock(&mu_);
      hellos_.push_back(message.hello());
      stream_ = stream;
    }
    while (stream->Read(&message)) {
      absl::MutexLock lock(&mu_);
      if (message.has_revision_state()) {
        states_.push_back(message.revision_state());
      }
    }
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
    return grpc::Status::OK;
  }

  grpc::Status PullCode(
      grpc::ServerContext*, const tether::v1::PullCodeRequest* request,
      grpc::ServerWriter<tether::v1::PullCodeResponse>* writer) override {
    std::string dir;
    {
      absl::MutexLock lock(&mu_);
      ++pulls_;
      auto it = revisions_.find(request->revision());
      if (it == revisions_.end()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such revision");
      }
      dir = it->second;
    }
    absl::StatusOr<tether::v1::Tree> tree = sync::ScanTree(dir, {});
    if (!tree.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "scan");
    tether::v1::PullCodeResponse response;
    *response.mutable_tree() = *tree;
    writer->Write(response);
    absl::flat_hash_set<std::string> sent(request->have().begin(),
                                          request->have().end());
    for (const tether::v1::TreeEntry& entry : tree->entries()) {
      if (entry.kind() != tether::v1::TreeEntry::KIND_FILE ||
          !sent.insert(entry.sha256()).second) {
        continue;
      }
      absl::StatusOr<std::string> bytes = ReadFile(dir + "/" + entry.path());
      if (!bytes.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "read");
      response.Clear();
      response.mutable_chunk()->set_sha256(entry.sha256());
      response.mutable_chunk()->set_data(*bytes);
      writer->Write(response);
    }
    return grpc::Status::OK;
  }

 private:
  int sources_ = 0;  // Test thread only.
  absl::Mutex mu_;
  std::map<std::string, std::string> revisions_ ABSL_GUARDED_BY(mu_);
  grpc::ServerReaderWriter<AgentCommand, AgentMessage>* stream_
      ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<AgentHello> hellos_ ABSL_GUARDED_BY(mu_);
  int refusals_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<RevisionState> states_ ABSL_GUARDED_BY(mu_);
  int pulls_ ABSL_GUARDED_BY(mu_) = 0;
};

std::string Module(const std::string& version) {
  return absl::StrCat("def greet(name):\n    return '", version, ":' + name\n");
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&gateway_);
    builder.RegisterService(&receiver_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    gateway_address_ = absl::StrCat("127.0.0.1:", port);
    workdir_ = TempDir("workdir");
    rev1_ = gateway_.AddRevision({{"app.py", Module("v1")}});
    rev2_ = gateway_.AddRevision({{"app.py", Module("v2")}});
    StartAgent();
  }

  void TearDown() override {
    StopAgent();
    server_->Shutdown(std::chrono::system_clock::now());
  }

  void StartAgent() {
    Agent::Options options;
    options.gateway_address = gateway_address_;
    options.service = "svc";
    options.replica = "svc-0";
    options.workdir = workdir_;
    options.token = "secret";
    options.attach_backoff.initial = absl::Milliseconds(10);
    options.clock = &clock_;
    options.health_listen_address = "127.0.0.1:0";
    options.otlp = otlp_;
    absl::StatusOr<std::unique_ptr<Agent>> agent =
        Agent::Create(std::move(options));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    run_ = std::thread([this] { EXPECT_TRUE(agent_->Run().ok()); });
    stub_ = tether::v1::Agent::NewStub(grpc::CreateChannel(
        agent_->invoke_address(), grpc::InsecureChannelCredentials()));
  }

  void StopAgent() {
    if (agent_ == nullptr) return;
    agent_->Shutdown();
    run_.join();
    agent_.reset();
  }

  static LoadRevision Load(const std::string& revision, int64_t generation,
                           bool freeze = false,
                           const std::string& name = "greet") {
    LoadRevision load;
    load.set_revision(revision);
    load.set_generation(generation);
    load.mutable_spec()->set_name("svc");
    load.mutable_spec()->mutable_callable()->set_module("app");
    load.mutable_spec()->mutable_callable()->set_name(name);
    load.mutable_spec()->mutable_compute()->set_freeze(freeze);
    // What tetherd's defaults allow.
    load.mutable_spec()->mutable_compute()->add_allowed_serialization(
        tether::v1::CODEC_JSON);
    return load;
  }

  // greet("x") on the agent: its payload, or the error.
  std::string Greet() {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer secret");
    tether::v1::InvokeRequest request;
    request.set_payload(R"({"args": ["x"]})");
    tether::v1::InvokeResponse response;
    const grpc::Status status = stub_->Invoke(&context, request, &response);
    if (!status.ok()) return status.error_message();
    if (response.result().has_error()) {
      return response.result().error().message();
    }
    return response.result().payload();
  }

  SimulatedClock clock_;
  FakeGateway gateway_;
  // tetherd's OTLP receiver, on the gateway's server.
  FakeOtlpReceiver receiver_;
  // For the agents StartAgent starts.
  std::optional<OtlpExporter::Options> otlp_;
  std::unique_ptr<grpc::Server> server_;
  std::string gateway_address_;
  std::string workdir_;
  std::string rev1_;
  std::string rev2_;
  std::unique_ptr<Agent> agent_;
  std::thread run_;
  std::unique_ptr<tether::v1::Agent::Stub> stub_;
};

TEST_F(AgentTest, RedialsAfterABackoffThatGrowsPerFailure) {
  gateway_.WaitForHello(1);
  StopAgent();
  gateway_.RefuseAttaches(2);
  StartAgent();
  clock_.AwaitTimedWaiters(1);
  EXPECT_EQ(clock_.DeadlinesForTest(),
            std::vector<absl::Time>{clock_.Now() + absl::Milliseconds(10)});
  clock_.Advance(absl::Milliseconds(10));
  clock_.AwaitTimedWaiters(1);
  EXPECT_EQ(clock_.DeadlinesForTest(),
            std::vector<absl::Time>{clock_.Now() + absl::Milliseconds(20)});
  clock_.Advance(absl::Milliseconds(20));
  gateway_.WaitForHello(2);
}

TEST_F(AgentTest, LoadsReportsAndServes) {
  EXPECT_NE(agent_->health_port(), 0);
  EXPECT_TRUE(absl::IsUnavailable(agent_->Ready()));
  gateway_.Send(Load(rev1_, 1));
  const RevisionState ready = gateway_.WaitForOutcome(1);
  EXPECT_EQ(ready.state(), RevisionState::STATE_READY);
  // What clients check before they send pickle.
  EXPECT_THAT(ready.python_version(), MatchesRegex(R"(3\.[0-9]+\.[0-9]+)"));
  EXPECT_TRUE(agent_->Ready().ok());
  EXPECT_EQ(gateway_.States(1),
            (std::vector<RevisionState::State>{RevisionState::STATE_SYNCING,
                                               RevisionState::STATE_LOADING,
                                               RevisionState::STATE_READY}));
  EXPECT_EQ(Greet(), R"("v1:x")");
  // The same load again is READY at once.
  gateway_.Send(Load(rev1_, 2));
  EXPECT_EQ(gateway_.WaitForOutcome(2).state(), RevisionState::STATE_READY);
  EXPECT_EQ(gateway_.States(2).size(), 1u);
}

TEST_F(AgentTest, ServesProbesAndMetricsOverHttp) {
  const int port = agent_->health_port();
  EXPECT_THAT(testing::HttpRequest(port, "/healthz"),
              ::testing::EndsWith("\r\n\r\nok\n"));
  EXPECT_THAT(testing::HttpRequest(port, "/readyz"),
              ::testing::StartsWith("HTTP/1.1 503 "));
  gateway_.Send(Load(rev1_, 1));
  ASSERT_EQ(gateway_.WaitForOutcome(1).state(), RevisionState::STATE_READY);
  EXPECT_THAT(testing::HttpRequest(port, "/readyz"),
              ::testing::EndsWith("\r\n\r\nready\n"));
  ASSERT_EQ(Greet(), R"("v1:x")");

  const std::string reply = testing::HttpRequest(port, "/metrics");
  EXPECT_THAT(reply, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  const std::string text = testing::HttpBody(reply);
  EXPECT_THAT(text, HasSubstr("tether_agent_calls_total{outcome=\"ok\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_agent_call_duration_seconds_count 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_agent_calls_in_flight 0\n"));
  EXPECT_THAT(text, HasSubstr("tether_agent_syncs_total{outcome=\"ok\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("tether_agent_reloads_total{outcome=\"ok\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("tether_agent_reload_duration_seconds_count 1\n"));
}

TEST_F(AgentTest, AnImportErrorKeepsTheOldWorkersAndReportsTheTraceback) {
  gateway_.Send(Load(rev1_, 1));
  ASSERT_EQ(gateway_.WaitForOutcome(1).state(), RevisionState::STATE_READY);
  const std::string broken = gateway_.AddRevision(
      {{"app.py", "import missing_dependency\n" + Module("v3")}});
  gateway_.Send(Load(broken, 2));
  const RevisionState failed = gateway_.WaitForOutcome(2);
  EXPECT_EQ(failed.state(), RevisionState::STATE_FAILED);
  EXPECT_THAT(failed.error(),
              HasSubstr("No module named 'missing_dependency'"));
  EXPECT_THAT(failed.error(), HasSubstr("Traceback"));
  EXPECT_EQ(Greet(), R"("v1:x")");
  gateway_.Send(Load(rev2_, 3));
  EXPECT_EQ(gateway_.WaitForOutcome(3).state(), RevisionState::STATE_READY);
  EXPECT_EQ(Greet(), R"("v2:x")");
}

TEST_F(AgentTest, AFrozenReplicaRefusesNewCodeWithoutFetchingIt) {
  gateway_.Send(Load(rev1_, 1, /*freeze=*/true));
  ASSERT_EQ(gateway_.WaitForOutcome(1).state(), RevisionState::STATE_READY);
  const int pulls = gateway_.pulls();
  gateway_.Send(Load(rev2_, 2, /*freeze=*/true));
  const RevisionState refused = gateway_.WaitForOutcome(2);
  EXPECT_EQ(refused.state(), RevisionState::STATE_FAILED);
  EXPECT_THAT(refused.error(), HasSubstr("frozen (compute.freeze)"));
  EXPECT_EQ(gateway_.States(2),
            std::vector<RevisionState::State>{RevisionState::STATE_FAILED});
  EXPECT_EQ(gateway_.pulls(), pulls);
  EXPECT_EQ(sync::CurrentRevision(workdir_).value_or(""), rev1_);
  EXPECT_EQ(Greet(), R"("v1:x")");
  // The same code with another spec still applies; lifting the freeze lets
  // new code in.
  LoadRevision more_workers = Load(rev1_, 3, /*freeze=*/true);
  more_workers.mutable_spec()->mutable_compute()->set_workers(2);
  gateway_.Send(more_workers);
  EXPECT_EQ(gateway_.WaitForOutcome(3).state(), RevisionState::STATE_READY);
  gateway_.Send(Load(rev2_, 4, /*freeze=*/false));
  EXPECT_EQ(gateway_.WaitForOutcome(4).state(), RevisionState::STATE_READY);
  EXPECT_EQ(Greet(), R"("v2:x")");
}

TEST_F(AgentTest, ARestartedAgentServesItsLastGoodRevisionBeforeAttaching) {
  gateway_.Send(Load(rev1_, 1));
  ASSERT_EQ(gateway_.WaitForOutcome(1).state(), RevisionState::STATE_READY);
  EXPECT_EQ(gateway_.WaitForHello(1).serving_revision(), "");
  // A revision that fails is not what a restart comes back to.
  const std::string broken =
      gateway_.AddRevision({{"app.py", "raise SystemExit(3)\n"}});
  gateway_.Send(Load(broken, 2));
  ASSERT_EQ(gateway_.WaitForOutcome(2).state(), RevisionState::STATE_FAILED);
  EXPECT_EQ(sync::CurrentRevision(workdir_).value_or(""), broken);

  StopAgent();
  StartAgent();
  EXPECT_EQ(gateway_.WaitForHello(2).serving_revision(), rev1_);
  // Serving without any command.
  EXPECT_EQ(Greet(), R"("v1:x")");
  // tetherd's resent load finds it unchanged.
  gateway_.Send(Load(rev1_, 3));
  EXPECT_EQ(gateway_.WaitForOutcome(3).state(), RevisionState::STATE_READY);
  EXPECT_EQ(gateway_.States(3).size(), 1u);
}

TEST_F(AgentTest, ARecordOfARevisionNotOnDiskStartsEmpty) {
  gateway_.Send(Load(rev1_, 1));
  ASSERT_EQ(gateway_.WaitForOutcome(1).state(), RevisionState::STATE_READY);
  StopAgent();
  ASSERT_TRUE(
      WriteFileAtomically(workdir_ + "/serving.pb",
                          Load(std::string(64, 'a'), 1).SerializeAsString())
          .ok());
  StartAgent();
  EXPECT_EQ(gateway_.WaitForHello(2).serving_revision(), "");
  gateway_.Send(Load(rev2_, 2));
  EXPECT_EQ(gateway_.WaitForOutcome(2).state(), RevisionState::STATE_READY);
  EXPECT_EQ(Greet(), R"("v2:x")");
}

TEST_F(AgentTest, ReportsItsCallsToTetherdAsOtlpMetrics) {
  StopAgent();
  otlp_.emplace();
  otlp_->endpoint = gateway_address_;
  otlp_->resource_attributes = {{"tether.service", "svc"}};
  StartAgent();
  gateway_.Send(Load(rev1_, 1));
  ASSERT_EQ(gateway_.WaitForOutcome(1).state(), RevisionState::STATE_READY);
  // Refused before it starts: not activity.
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer wrong");
  tether::v1::InvokeResponse response;
  EXPECT_EQ(stub_->Invoke(&context, {}, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Greet(), R"("v1:x")");

  // The first call after idle is reported at once (no time passes), with
  // the service token so tetherd can tell whose report it is.
  const FakeOtlpReceiver::Received first = receiver_.WaitFor(1);
  EXPECT_EQ(first.authorization, "Bearer secret");
  EXPECT_EQ(ResourceAttribute(first.request, "tether.service"), "svc");
  EXPECT_EQ(MetricValue(first.request, "tether.calls.started"), 1);

  // Stopping reports the final counts.
  StopAgent();
  const FakeOtlpReceiver::Received last = receiver_.WaitFor(receiver_.count());
  EXPECT_EQ(MetricValue(last.request, "tether.calls.started"), 1);
  EXPECT_EQ(MetricValue(last.request, "tether.calls.finished"), 1);
  EXPECT_EQ(MetricValue(last.request, "tether.calls.in_flight"), 0);
}

}  // namespace
}  // namespace tether::agent
