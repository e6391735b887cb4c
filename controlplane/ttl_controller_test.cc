#include "controlplane/ttl_controller.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/proto_time.h"
#include "controlplane/activator.h"
#include "controlplane/activity_tracker.h"
#include "controlplane/call_router.h"
#include "controlplane/fake_service_store.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

constexpr absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

class TtlControllerTest : public ::testing::Test {
 protected:
  TtlControllerTest()
      : clock_(kStart),
        tracker_({&clock_, absl::Minutes(1)}),
        router_(CallRouter::Options()),
        activator_(ActivatorOptions()) {
    controller_ = NewController(&tracker_);
  }

  Activator::Options ActivatorOptions() {
    Activator::Options options;
    options.router = &router_;
    options.activity = &tracker_;
    options.clock = &clock_;
    options.wake = [](const std::string&) { return absl::OkStatus(); };
    return options;
  }

  // Checks run when the test says (CheckNow), unless it sets an interval.
  std::unique_ptr<TtlController> NewController(
      ActivityTracker* tracker,
      absl::Duration check_interval = absl::InfiniteDuration()) {
    TtlController::Options options;
    options.activity = tracker;
    options.activator = &activator_;
    options.store = &store_;
    options.clock = &clock_;
    options.check_interval = check_interval;
    options.persist_interval = absl::InfiniteDuration();
    options.scale_to_zero = [this](const std::string& service,
                                   const std::string& why) {
      absl::MutexLock lock(&mu_);
      actions_.push_back("park " + service);
      last_why_ = why;
      return absl::OkStatus();
    };
    options.remove = [this](const std::string& service) {
      absl::MutexLock lock(&mu_);
      actions_.push_back("delete " + service);
      return absl::OkStatus();
    };
    return *TtlController::Create(options);
  }

  void Publish(
      const std::string& ttl, int64_t generation = 1, bool parked = false,
      tether::v1::TtlAction action = tether::v1::TTL_ACTION_UNSPECIFIED) {
    ServiceState state;
    state.record.set_name("hello");
    state.record.set_generation(generation);
    state.record.mutable_spec()->mutable_compute()->set_inactivity_ttl(ttl);
    state.record.mutable_spec()->mutable_compute()->set_ttl_action(action);
    if (parked) state.record.set_scale(0);
    controller_->OnServiceChanged(state);
  }

  std::vector<std::string> actions() {
    absl::MutexLock lock(&mu_);
    return actions_;
  }

  SimulatedClock clock_;
  ActivityTracker tracker_;
  CallRouter router_;
  Activator activator_;
  FakeServiceStore store_;
  absl::Mutex mu_;
  std::vector<std::string> actions_ ABSL_GUARDED_BY(mu_);
  std::string last_why_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<TtlController> controller_;
};

TEST_F(TtlControllerTest, AServiceNeverCalledParksATtlAfterItsDeploy) {
  Publish("30s");
  clock_.Advance(absl::Seconds(29));
  controller_->CheckNow();
  EXPECT_TRUE(actions().empty());
  EXPECT_EQ(
      FromProtoTimestamp(controller_->ActivityOf("hello").idle_action_at()),
      kStart + absl::Seconds(30));
  clock_.Advance(absl::Seconds(1));
  controller_->CheckNow();
  EXPECT_EQ(actions(), std::vector<std::string>{"park hello"});
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(last_why_, "no calls for 30s (inactivity_ttl)");
}

TEST_F(TtlControllerTest, ActivityPushesTheDeadlineBack) {
  Publish("30s");
  clock_.Advance(absl::Seconds(20));
  tracker_.ReportCalls("hello", "hello-0", {1, kStart, false});
  clock_.Advance(absl::Seconds(20));
  controller_->CheckNow();
  EXPECT_TRUE(actions().empty());
  clock_.Advance(absl::Seconds(10));
  controller_->CheckNow();
  EXPECT_EQ(actions(), std::vector<std::string>{"park hello"});
}

TEST_F(TtlControllerTest, ACallInFlightBlocksScaleDown) {
  Publish("30s");
  tracker_.ProxiedCallStarted("hello");
  clock_.Advance(absl::Hours(2));
  controller_->CheckNow();
  EXPECT_TRUE(actions().empty());
  tracker_.ProxiedCallFinished("hello");
  clock_.Advance(absl::Seconds(30));
  controller_->CheckNow();
  EXPECT_EQ(actions(), std::vector<std::string>{"park hello"});
}

TEST_F(TtlControllerTest, TheDeleteActionDeletesOnce) {
  Publish("30s", 1, false, tether::v1::TTL_ACTION_DELETE);
  clock_.Advance(absl::Seconds(30));
  controller_->CheckNow();
  controller_->CheckNow();
  EXPECT_EQ(actions(), std::vector<std::string>{"delete hello"});
  controller_->OnServiceRemoved("hello");
  EXPECT_EQ(tracker_.LastActivity("hello"), absl::InfinitePast());
}

TEST_F(TtlControllerTest, ParkedServicesWaitAndAWakeStartsTheTtlOver) {
  Publish("30s", 1, /*parked=*/true);
  clock_.Advance(absl::Minutes(5));
  controller_->CheckNow();
  EXPECT_TRUE(actions().empty());
  EXPECT_FALSE(controller_->ActivityOf("hello").has_idle_action_at());
  Publish("30s", 1, /*parked=*/false);
  clock_.Advance(absl::Seconds(29));
  controller_->CheckNow();
  EXPECT_TRUE(actions().empty());
  clock_.Advance(absl::Seconds(1));
  controller_->CheckNow();
  EXPECT_EQ(actions(), std::vector<std::string>{"park hello"});
}

TEST_F(TtlControllerTest, ARedeployStartsTheTtlOverAndNoTtlMeansNever) {
  Publish("30s", 1);
  clock_.Advance(absl::Seconds(20));
  Publish("30s", 2);
  clock_.Advance(absl::Seconds(20));
  controller_->CheckNow();
  EXPECT_TRUE(actions().empty());
  Publish("", 3);
  clock_.Advance(absl::Hours(24));
  controller_->CheckNow();
  EXPECT_TRUE(actions().empty());
}

TEST_F(TtlControllerTest, LastActivitySurvivesARestart) {
  Publish("30s");
  clock_.Advance(absl::Seconds(20));
  tracker_.ReportCalls("hello", "hello-0", {1, kStart, false});
  controller_.reset();  // Persists.

  ActivityTracker restarted_tracker({&clock_, absl::Minutes(1)});
  controller_ = NewController(&restarted_tracker);
  EXPECT_EQ(restarted_tracker.LastActivity("hello"),
            kStart + absl::Seconds(20));
  clock_.Advance(absl::Seconds(20));
  // Seen again after the restart: its history is kept, not reset to now.
  Publish("30s");
  clock_.Advance(absl::Seconds(10));
  controller_->CheckNow();
  EXPECT_EQ(actions(), std::vector<std::string>{"park hello"});
  controller_.reset();
}

TEST_F(TtlControllerTest, ItsThreadChecksOnTheClock) {
  controller_ = NewController(&tracker_, absl::Seconds(1));
  Publish("30s");
  // Each round waits until the thread waits again, so the check the
  // previous Advance caused has finished.
  for (int i = 0; i <= 30; ++i) {
    clock_.AwaitTimedWaiters(1);
    if (!actions().empty()) break;
    clock_.Advance(absl::Seconds(1));
  }
  EXPECT_EQ(actions(), std::vector<std::string>{"park hello"});
  EXPECT_EQ(clock_.Now(), kStart + absl::Seconds(30));
}

}  // namespace
}  // namespace tether::controlplane
