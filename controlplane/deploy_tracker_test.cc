#include "controlplane/deploy_tracker.h"

#include <vector>

#include "common/clock.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

using tether::v1::DeployEvent;

class RecordingObserver final : public DeployObserver {
 public:
  void OnEvent(const DeployEvent& event) override { events.push_back(event); }
  void OnDone(const absl::Status& status) override {
    ++done;
    final_status = status;
  }
  std::vector<DeployEvent> events;
  int done = 0;
  absl::Status final_status;
};

class DeployTrackerTest : public ::testing::Test {
 protected:
  SimulatedClock clock_{absl::FromUnixSeconds(1000)};
  DeployTracker tracker_{&clock_};
  RecordingObserver observer_;
};

TEST_F(DeployTrackerTest, EventsReachTheObserverStampedWithTheClock) {
  tracker_.Start("hello", &observer_);
  EXPECT_TRUE(tracker_.InProgress("hello"));
  tracker_.Emit("hello", DeployEvent::STAGE_ACCEPTED, "", "generation 1");
  clock_.Advance(absl::Seconds(2));
  tracker_.Emit("hello", DeployEvent::STAGE_REPLICA_READY, "hello-0", "");
  ASSERT_EQ(observer_.events.size(), 2u);
  EXPECT_EQ(observer_.events[0].stage(), DeployEvent::STAGE_ACCEPTED);
  EXPECT_EQ(observer_.events[0].message(), "generation 1");
  EXPECT_EQ(observer_.events[0].time().seconds(), 1000);
  EXPECT_EQ(observer_.events[1].replica(), "hello-0");
  EXPECT_EQ(observer_.events[1].time().seconds(), 1002);
  // Other services' events are not this deploy's.
  tracker_.Emit("other", DeployEvent::STAGE_ACCEPTED, "", "");
  EXPECT_EQ(observer_.events.size(), 2u);
}

TEST_F(DeployTrackerTest, AClientsDeployStaysRequestedAfterItsClientLeaves) {
  const uint64_t id = tracker_.Start("hello", &observer_);
  tracker_.Detach(id);
  EXPECT_TRUE(tracker_.Requested("hello"));
  tracker_.Start("woken", nullptr);
  EXPECT_FALSE(tracker_.Requested("woken"));
  EXPECT_FALSE(tracker_.Requested("unknown"));
}

TEST_F(DeployTrackerTest, EndTellsTheObserverOnceAndForgetsTheDeploy) {
  tracker_.Start("hello", &observer_);
  EXPECT_TRUE(tracker_.End("hello", absl::AbortedError("superseded")));
  EXPECT_EQ(observer_.done, 1);
  EXPECT_EQ(observer_.final_status.code(), absl::StatusCode::kAborted);
  EXPECT_FALSE(tracker_.InProgress("hello"));
  EXPECT_FALSE(tracker_.End("hello", absl::OkStatus()));
  tracker_.Emit("hello", DeployEvent::STAGE_READY, "", "");
  EXPECT_EQ(observer_.done, 1);
  EXPECT_TRUE(observer_.events.empty());
}

TEST_F(DeployTrackerTest, ADetachedDeployGoesOnUnwatched) {
  const uint64_t first = tracker_.Start("hello", &observer_);
  RecordingObserver other;
  const uint64_t second = tracker_.Start("other", &other);
  EXPECT_NE(first, second);
  tracker_.Detach(first);
  tracker_.Emit("hello", DeployEvent::STAGE_APPLIED, "", "");
  EXPECT_TRUE(tracker_.InProgress("hello"));
  EXPECT_TRUE(tracker_.End("hello", absl::OkStatus()));
  EXPECT_TRUE(observer_.events.empty());
  EXPECT_EQ(observer_.done, 0);
  tracker_.Emit("other", DeployEvent::STAGE_APPLIED, "", "");
  EXPECT_EQ(other.events.size(), 1u);
}

TEST_F(DeployTrackerTest, ADeployNobodyWatchesStillTracks) {
  tracker_.Start("hello", nullptr);
  tracker_.Emit("hello", DeployEvent::STAGE_APPLIED, "", "");
  EXPECT_TRUE(tracker_.InProgress("hello"));
  EXPECT_TRUE(tracker_.End("hello", absl::OkStatus()));
}

}  // namespace
}  // namespace tether::controlplane
