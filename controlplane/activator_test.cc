#include "controlplane/activator.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "controlplane/activity_tracker.h"
#include "controlplane/call_router.h"
#include "controlplane/fake_agent_stub.h"
#include "controlplane/routes.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

using tether::v1::CallRequest;
using tether::v1::CallResponse;
using tether::v1::ServiceStatus;

constexpr absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

// One proxied call: what it asked and how it ended.
struct TestCall {
  CallRequest request;
  CallResponse response;
  bool done = false;
  absl::Status status;
  std::optional<absl::Duration> woke_after;
};

class ActivatorTest : public ::testing::Test {
 protected:
  ActivatorTest()
      : clock_(kStart),
        tracker_({&clock_, absl::Minutes(1)}),
        router_(CallRouter::Options()) {
    Activator::Options options;
    options.router = &router_;
    options.activity = &tracker_;
    options.clock = &clock_;
    options.max_waiting_per_service = 8;
    options.wake = [this](const std::string& service) {
      absl::MutexLock lock(&mu_);
      wakes_.push_back(service);
      return wake_result_;
    };
    options.on_wake_ended = [this](bool ok, absl::Duration took) {
      absl::MutexLock lock(&mu_);
      wake_ends_.push_back(ok);
    };
    activator_ = std::make_unique<Activator>(options);
  }

  // Publishes `hello` to the router and the activator as the manager would.
  void Publish(ServiceStatus::Phase phase, bool parked, bool routable,
               const std::string& message = "") {
    ServiceState state;
    state.record.set_name("hello");
    state.record.set_phase(phase);
    state.record.set_message(message);
    state.record.mutable_spec()->mutable_compute()->set_launch_timeout(
        launch_timeout_);
    state.record.mutable_spec()->mutable_compute()->add_allowed_serialization(
        tether::v1::CODEC_JSON);
    if (parked) state.record.set_scale(0);
    if (routable) {
      auto stub = std::make_unique<FakeAgentStub>();
      stub_ = stub.get();
      auto endpoint = std::make_shared<AgentEndpoint>();
      endpoint->replica = "hello-0";
      endpoint->stub = std::move(stub);
      state.order = {"hello-0"};
      ReplicaState& replica = state.replicas["hello-0"];
      replica.endpoint = std::move(endpoint);
      replica.status.set_revision("rev-1");
    }
    router_.SetRoute(BuildRoute(state));
    activator_->OnServiceChanged(state);
  }

  TestCall* Call(absl::Duration timeout = absl::Minutes(5)) {
    calls_.push_back(std::make_unique<TestCall>());
    TestCall* call = calls_.back().get();
    call->request.set_service("hello");
    activator_->Call(call->request, &call->response, clock_.Now() + timeout,
                     [this, call](absl::Status status,
                                  std::optional<absl::Duration> woke_after) {
                       absl::MutexLock lock(&mu_);
                       call->status = std::move(status);
                       call->woke_after = woke_after;
                       call->done = true;
                     });
    return call;
  }

  void AwaitDone(TestCall* call) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&call->done));
  }
  bool Done(TestCall* call) {
    absl::MutexLock lock(&mu_);
    return call->done;
  }
  void AwaitPending(size_t n) { stub_->AwaitPending(n); }
  std::vector<std::string> wakes() {
    absl::MutexLock lock(&mu_);
    return wakes_;
  }
  void AwaitWakes(size_t n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return wakes_.size() >= n;
    };
    mu_.Await(absl::Condition(&reached));
  }

  SimulatedClock clock_;
  ActivityTracker tracker_;
  CallRouter router_;
  std::string launch_timeout_ = "10m";
  absl::Mutex mu_;
  std::vector<std::string> wakes_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> wake_ends_ ABSL_GUARDED_BY(mu_);
  absl::Status wake_result_ ABSL_GUARDED_BY(mu_);
  FakeAgentStub* stub_ = nullptr;
  std::vector<std::unique_ptr<TestCall>> calls_;
  std::unique_ptr<Activator> activator_;
};

TEST_F(ActivatorTest, CallsToAReadyServiceGoStraightThrough) {
  Publish(ServiceStatus::PHASE_READY, false, true);
  TestCall* call = Call();
  AwaitPending(1);
  EXPECT_EQ(tracker_.InFlight("hello"), 1);
  stub_->Reply("\"hi\"");
  AwaitDone(call);
  EXPECT_TRUE(call->status.ok()) << call->status;
  EXPECT_FALSE(call->woke_after.has_value());
  EXPECT_EQ(tracker_.InFlight("hello"), 0);
  EXPECT_TRUE(wakes().empty());
}

TEST_F(ActivatorTest, ConcurrentCallsShareOneWakeUpAndAllGetAnswers) {
  Publish(ServiceStatus::PHASE_IDLE, true, false);
  std::vector<TestCall*> calls;
  for (int i = 0; i < 8; ++i) calls.push_back(Call());
  AwaitWakes(1);
  EXPECT_EQ(wakes(), std::vector<std::string>{"hello"});
  // Waiting calls count in flight, so the TTL cannot park it again.
  EXPECT_EQ(tracker_.InFlight("hello"), 8);
  // The manager's wake: the record is no longer parked, then an agent
  // attaches and serves.
  Publish(ServiceStatus::PHASE_DEPLOYING, false, false);
  clock_.Advance(absl::Milliseconds(300));
  Publish(ServiceStatus::PHASE_READY, false, true);
  AwaitPending(8);
  for (int i = 0; i < 8; ++i) stub_->Reply("\"hi\"");
  for (TestCall* call : calls) {
    AwaitDone(call);
    EXPECT_TRUE(call->status.ok()) << call->status;
    ASSERT_TRUE(call->woke_after.has_value());
    EXPECT_EQ(*call->woke_after, absl::Milliseconds(300));
  }
  EXPECT_EQ(wakes().size(), 1u);
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(wake_ends_, std::vector<bool>{true});
}

TEST_F(ActivatorTest, AFullQueueRefusesMoreCalls) {
  Publish(ServiceStatus::PHASE_IDLE, true, false);
  for (int i = 0; i < 8; ++i) Call();
  TestCall* ninth = Call();
  AwaitDone(ninth);
  EXPECT_EQ(ninth->status.code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(ActivatorTest, AServiceThatCannotStartFailsItsCallersWithTheReason) {
  Publish(ServiceStatus::PHASE_IDLE, true, false);
  TestCall* call = Call();
  AwaitWakes(1);
  Publish(ServiceStatus::PHASE_DEPLOYING, false, false);
  Publish(ServiceStatus::PHASE_FAILED, false, false,
          "replica hello-0: ImagePullBackOff: image not found");
  AwaitDone(call);
  EXPECT_EQ(call->status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(call->status.message().find("image not found"), std::string::npos)
      << call->status;
  EXPECT_EQ(tracker_.InFlight("hello"), 0);
}

TEST_F(ActivatorTest, AFailedWakeRequestFailsTheCallers) {
  {
    absl::MutexLock lock(&mu_);
    wake_result_ = absl::UnavailableError("store is read-only");
  }
  Publish(ServiceStatus::PHASE_IDLE, true, false);
  TestCall* call = Call();
  AwaitDone(call);
  EXPECT_EQ(call->status.message(), "store is read-only");
}

TEST_F(ActivatorTest, WaitingCallsHonourTheirDeadlineAndTheLaunchTimeout) {
  launch_timeout_ = "30s";
  Publish(ServiceStatus::PHASE_IDLE, true, false);
  TestCall* short_call = Call(absl::Seconds(2));
  TestCall* long_call = Call(absl::Minutes(5));
  clock_.AwaitTimedWaiters(1);
  clock_.Advance(absl::Seconds(2));
  AwaitDone(short_call);
  EXPECT_EQ(short_call->status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(Done(long_call));
  clock_.AwaitTimedWaiters(1);
  clock_.Advance(absl::Seconds(28));
  AwaitDone(long_call);
  EXPECT_EQ(long_call->status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(long_call->status.message().find("launch_timeout"),
            std::string::npos)
      << long_call->status;
}

TEST_F(ActivatorTest, StopIfIdleRefusesWhileACallRuns) {
  Publish(ServiceStatus::PHASE_READY, false, true);
  TestCall* call = Call();
  AwaitPending(1);
  bool stopped = false;
  auto stop = [&] {
    stopped = true;
    return absl::OkStatus();
  };
  EXPECT_EQ(activator_->StopIfIdle("hello", stop).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(stopped);
  stub_->Reply("\"hi\"");
  AwaitDone(call);
  EXPECT_TRUE(activator_->StopIfIdle("hello", stop).ok());
  EXPECT_TRUE(stopped);
}

TEST_F(ActivatorTest, ACallDuringAStopWaitsAndWakesTheServiceAfterIt) {
  Publish(ServiceStatus::PHASE_READY, false, true);
  TestCall* call = nullptr;
  ASSERT_TRUE(activator_
                  ->StopIfIdle("hello",
                               [&] {
                                 // Arrives while replicas are stopping.
                                 call = Call();
                                 Publish(ServiceStatus::PHASE_IDLE, true, true);
                                 EXPECT_TRUE(wakes().empty());
                                 return absl::OkStatus();
                               })
                  .ok());
  AwaitWakes(1);
  EXPECT_EQ(stub_->pending(), 0u);
  Publish(ServiceStatus::PHASE_READY, false, true);
  AwaitPending(1);
  stub_->Reply("\"hi\"");
  AwaitDone(call);
  EXPECT_TRUE(call->status.ok());
  EXPECT_EQ(wakes().size(), 1u);
}

TEST_F(ActivatorTest, DeletingAServiceFailsItsWaitingCalls) {
  Publish(ServiceStatus::PHASE_IDLE, true, false);
  TestCall* call = Call();
  activator_->OnServiceRemoved("hello");
  AwaitDone(call);
  EXPECT_EQ(call->status.code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tether::controlplane
