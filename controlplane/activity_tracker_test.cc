#include "controlplane/activity_tracker.h"

#include "common/clock.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

constexpr absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

class ActivityTrackerTest : public ::testing::Test {
 protected:
  ActivityTrackerTest() : clock_(kStart), tracker_(Options()) {}

  ActivityTracker::Options Options() {
    ActivityTracker::Options options;
    options.clock = &clock_;
    options.stale_after = absl::Seconds(30);
    return options;
  }

  static CallCountPoint Cumulative(int64_t value, absl::Time start = kStart) {
    return CallCountPoint{value, start, /*delta=*/false};
  }

  SimulatedClock clock_;
  ActivityTracker tracker_;
};

TEST_F(ActivityTrackerTest, UnknownServicesHaveNoActivity) {
  EXPECT_EQ(tracker_.LastActivity("hello"), absl::InfinitePast());
  EXPECT_EQ(tracker_.InFlight("hello"), 0);
  EXPECT_FALSE(tracker_.Get("hello").has_last_activity());
}

TEST_F(ActivityTrackerTest, ACumulativeCounterIsActiveOnlyWhenItGrows) {
  tracker_.ReportCalls("hello", "hello-0", Cumulative(3));
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart);
  clock_.Advance(absl::Seconds(5));
  tracker_.ReportCalls("hello", "hello-0", Cumulative(3));
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart);
  clock_.Advance(absl::Seconds(5));
  tracker_.ReportCalls("hello", "hello-0", Cumulative(4));
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart + absl::Seconds(10));
}

TEST_F(ActivityTrackerTest, ACounterResetCountsItsNewCalls) {
  tracker_.ReportCalls("hello", "hello-0", Cumulative(7));
  clock_.Advance(absl::Seconds(5));
  // The agent restarted: a new start time, a smaller value.
  tracker_.ReportCalls("hello", "hello-0",
                       Cumulative(2, kStart + absl::Seconds(4)));
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart + absl::Seconds(5));
  clock_.Advance(absl::Seconds(5));
  // A value that falls with the same start is a reset too.
  tracker_.ReportCalls("hello", "hello-0",
                       Cumulative(1, kStart + absl::Seconds(4)));
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart + absl::Seconds(10));
  clock_.Advance(absl::Seconds(5));
  // A reset to zero is no call.
  tracker_.ReportCalls("hello", "hello-0",
                       Cumulative(0, kStart + absl::Seconds(14)));
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart + absl::Seconds(10));
}

TEST_F(ActivityTrackerTest, DeltaSumsCountWhenAboveZero) {
  tracker_.ReportCalls("hello", "hello-0", {0, kStart, /*delta=*/true});
  EXPECT_EQ(tracker_.LastActivity("hello"), absl::InfinitePast());
  clock_.Advance(absl::Seconds(5));
  tracker_.ReportCalls("hello", "hello-0", {2, kStart, /*delta=*/true});
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart + absl::Seconds(5));
  clock_.Advance(absl::Seconds(5));
  // The same delta again is two more calls, not a repeat.
  tracker_.ReportCalls("hello", "hello-0", {2, kStart, /*delta=*/true});
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart + absl::Seconds(10));
}

TEST_F(ActivityTrackerTest, SeriesOfReplicasAreSeparate) {
  tracker_.ReportCalls("hello", "hello-0", Cumulative(5));
  clock_.Advance(absl::Seconds(5));
  // hello-1 at 3 is not hello-0 falling from 5.
  tracker_.ReportCalls("hello", "hello-1", Cumulative(3));
  tracker_.ReportCalls("hello", "hello-0", Cumulative(5));
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart + absl::Seconds(5));
}

TEST_F(ActivityTrackerTest, CallsInFlightKeepAServiceActiveUntilTheyGoStale) {
  tracker_.ReportInFlight("hello", "hello-0", 2);
  tracker_.ReportInFlight("hello", "hello-1", 1);
  EXPECT_EQ(tracker_.InFlight("hello"), 3);
  clock_.Advance(absl::Seconds(20));
  tracker_.ReportInFlight("hello", "hello-0", 1);
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart + absl::Seconds(20));
  EXPECT_EQ(tracker_.Get("hello").calls_in_flight(), 2);
  // hello-1 stopped reporting (killed mid-call): its call stops counting.
  clock_.Advance(absl::Seconds(15));
  EXPECT_EQ(tracker_.InFlight("hello"), 1);
  // A restarted agent reports under the same replica: its count replaces.
  tracker_.ReportInFlight("hello", "hello-0", 0);
  EXPECT_EQ(tracker_.InFlight("hello"), 0);
  // Nothing in flight is no activity.
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart + absl::Seconds(20));
}

TEST_F(ActivityTrackerTest, ProxiedCallsCountInFlightAndAtBothEnds) {
  tracker_.ProxiedCallStarted("hello");
  EXPECT_EQ(tracker_.InFlight("hello"), 1);
  clock_.Advance(absl::Minutes(10));
  // Never stale: tetherd itself knows the call still runs.
  EXPECT_EQ(tracker_.InFlight("hello"), 1);
  tracker_.ProxiedCallFinished("hello");
  EXPECT_EQ(tracker_.InFlight("hello"), 0);
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart + absl::Minutes(10));
}

TEST_F(ActivityTrackerTest, TouchStartsTheClockAndTouchIfUnknownKeepsHistory) {
  tracker_.TouchIfUnknown("hello");
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart);
  clock_.Advance(absl::Seconds(5));
  tracker_.TouchIfUnknown("hello");
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart);
  tracker_.Touch("hello");
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart + absl::Seconds(5));
  tracker_.Forget("hello");
  EXPECT_EQ(tracker_.LastActivity("hello"), absl::InfinitePast());
}

TEST_F(ActivityTrackerTest, SnapshotSurvivesARestart) {
  tracker_.Touch("a");
  clock_.Advance(absl::Seconds(5));
  tracker_.ReportCalls("b", "b-0", Cumulative(1));
  bool changed = false;
  const tether::v1::ActivityLog log = tracker_.Snapshot(&changed);
  EXPECT_TRUE(changed);
  EXPECT_EQ(log.last_activity_size(), 2);
  tracker_.Snapshot(&changed);
  EXPECT_FALSE(changed);

  ActivityTracker restarted(Options());
  restarted.Restore(log);
  EXPECT_EQ(restarted.LastActivity("a"), kStart);
  EXPECT_EQ(restarted.LastActivity("b"), kStart + absl::Seconds(5));
  // Restored history is not overwritten by the deploy-time default.
  restarted.TouchIfUnknown("a");
  EXPECT_EQ(restarted.LastActivity("a"), kStart);
}

}  // namespace
}  // namespace tether::controlplane
