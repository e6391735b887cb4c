#include "controlplane/call_router.h"

#include <optional>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "controlplane/fake_agent_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

using tether::v1::CallRequest;
using tether::v1::CallResponse;

class CallRouterTest : public ::testing::Test {
 protected:
  CallRouterTest() : router_(Options()) {}

  static CallRouter::Options Options() {
    CallRouter::Options options;
    options.max_payload_bytes = 100;
    return options;
  }

  // Installs "svc" with `n` ready replicas backed by fake stubs.
  void Install(int n, std::vector<tether::v1::Codec> codecs = {
                          tether::v1::CODEC_JSON, tether::v1::CODEC_RAW}) {
    auto route = std::make_shared<Route>();
    route->service = "svc";
    route->token = "secret";
    route->allowed_codecs = std::move(codecs);
    for (int i = 0; i < n; ++i) {
      auto endpoint = std::make_shared<AgentEndpoint>();
      endpoint->replica = "svc-" + std::to_string(i);
      auto stub = std::make_unique<FakeAgentStub>();
      stubs_.push_back(stub.get());
      endpoint->stub = std::move(stub);
      route->ready.push_back(endpoint);
    }
    router_.SetRoute(route);
  }

  // Starts a call; the status lands in `status_` when it completes.
  void Start(const CallRequest& request) {
    status_.reset();
    response_.Clear();
    router_.Call(request, &response_, absl::Now() + absl::Seconds(10),
                 [this](const absl::Status& status) { status_ = status; });
  }

  static CallRequest Request(const std::string& payload = "{}") {
    CallRequest request;
    request.set_service("svc");
    request.set_payload(payload);
    return request;
  }

  CallRouter router_;
  std::vector<FakeAgentStub*> stubs_;
  CallResponse response_;
  std::optional<absl::Status> status_;
};

TEST_F(CallRouterTest, ForwardsWithTheTokenAndReturnsTheResult) {
  Install(1);
  Start(Request("[1]"));
  ASSERT_FALSE(status_.has_value());
  ASSERT_EQ(stubs_[0]->pending(), 1u);
  EXPECT_EQ(stubs_[0]->last_authorization(), "Bearer secret");
  EXPECT_EQ(stubs_[0]->requests()[0].codec(), tether::v1::CODEC_JSON);
  EXPECT_FALSE(stubs_[0]->requests()[0].request_id().empty());
  stubs_[0]->Reply("42");
  ASSERT_TRUE(status_.has_value());
  EXPECT_TRUE(status_->ok());
  ASSERT_EQ(response_.results_size(), 1);
  EXPECT_EQ(response_.results(0).payload(), "42");
  EXPECT_EQ(response_.results(0).replica(), "svc-0");
}

TEST_F(CallRouterTest, RejectsBadCallsWithPreciseCodes) {
  Start(Request());
  EXPECT_EQ(status_->code(), absl::StatusCode::kNotFound);
  Install(0);
  Start(Request());
  EXPECT_EQ(status_->code(), absl::StatusCode::kUnavailable);
  Install(1);
  CallRequest pickle = Request();
  pickle.set_codec(tether::v1::CODEC_PICKLE);
  Start(pickle);
  EXPECT_EQ(status_->code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status_->message(),
            "codec pickle is not allowed for service svc (allowed: json, "
            "raw); list it in compute.allowed_serialization");
  Start(Request(std::string(101, 'x')));
  EXPECT_EQ(status_->code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(stubs_[0]->pending(), 0u);
}

TEST_F(CallRouterTest, PicksTheReplicaWithFewestCallsInFlight) {
  Install(2);
  Start(Request());  // svc-0: tie goes to the lower index.
  Start(Request());  // svc-1 now has fewer in flight.
  Start(Request());
  EXPECT_EQ(stubs_[0]->pending(), 2u);
  EXPECT_EQ(stubs_[1]->pending(), 1u);
}

TEST_F(CallRouterTest, FanOutReturnsResultsInReplicaOrder) {
  Install(3);
  CallRequest all = Request();
  all.set_target(CallRequest::TARGET_ALL);
  Start(all);
  // Complete out of order; results still come back by replica index.
  stubs_[2]->Reply("c");
  stubs_[0]->Reply("a");
  EXPECT_FALSE(status_.has_value());
  stubs_[1]->Reply("b");
  ASSERT_TRUE(status_.has_value() && status_->ok());
  ASSERT_EQ(response_.results_size(), 3);
  EXPECT_EQ(response_.results(0).payload(), "a");
  EXPECT_EQ(response_.results(2).replica(), "svc-2");
}

TEST_F(CallRouterTest, FanOutFailsWhenAReplicaCannotBeReached) {
  Install(2);
  CallRequest all = Request();
  all.set_target(CallRequest::TARGET_ALL);
  Start(all);
  stubs_[0]->Reply("a");
  stubs_[1]->Reply("", grpc::Status(grpc::StatusCode::UNAVAILABLE, "gone"));
  EXPECT_EQ(status_->code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(response_.results_size(), 0);
}

TEST_F(CallRouterTest, NamedReplica) {
  Install(2);
  CallRequest one = Request();
  one.set_target(CallRequest::TARGET_REPLICA);
  one.set_replica("svc-1");
  Start(one);
  EXPECT_EQ(stubs_[1]->pending(), 1u);
  one.set_replica("svc-7");
  Start(one);
  EXPECT_EQ(status_->code(), absl::StatusCode::kUnavailable);
}

// An agent that never answers and whose server does not enforce deadlines
// (the minimal stack drops its deadline filter): only the router's own
// client-side deadline can end a call to it.
class HungAgent final : public tether::v1::Agent::CallbackService {
 public:
  grpc::ServerUnaryReactor* Invoke(
      grpc::CallbackServerContext* context,
      const tether::v1::InvokeRequest* /*request*/,
      tether::v1::InvokeResponse* /*response*/) override {
    class Reactor final : public grpc::ServerUnaryReactor {
     public:
      // Finishes only when the client gives up.
      void OnCancel() override { Finish(grpc::Status::CANCELLED); }
      void OnDone() override { delete this; }
    };
    (void)context;
    return new Reactor;
  }
};

TEST(CallRouterDeadlineTest, AgentStubsTimeCallsOutThemselves) {
  HungAgent agent;
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_MINIMAL_STACK, 1);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&agent);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(port, 0);

  CallRouter router(CallRouter::Options{});
  auto route = std::make_shared<Route>();
  route->service = "svc";
  route->allowed_codecs = {tether::v1::CODEC_JSON};
  auto endpoint = std::make_shared<AgentEndpoint>();
  endpoint->replica = "svc-0";
  endpoint->stub = router.NewAgentStub("127.0.0.1:" + std::to_string(port));
  route->ready.push_back(endpoint);
  router.SetRoute(route);

  CallRequest request;
  request.set_service("svc");
  CallResponse response;
  absl::Status status;
  absl::Notification done;
  const absl::Time start = absl::Now();
  router.Call(request, &response, start + absl::Milliseconds(300),
              [&](const absl::Status& s) {
                status = s;
                done.Notify();
              });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(endpoint->in_flight, 0);
  server->Shutdown();
}

}  // namespace
}  // namespace tether::controlplane
