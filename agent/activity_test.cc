#include "agent/activity.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "gtest/gtest.h"

namespace tether::agent {
namespace {

TEST(ActivityCountersTest, CountsStartsFinishesAndInFlight) {
  SimulatedClock clock(absl::FromUnixSeconds(100));
  ActivityCounters counters(&clock);
  clock.Advance(absl::Seconds(5));
  counters.CallStarted();
  counters.CallStarted();
  counters.CallFinished();
  const ActivitySnapshot snapshot = counters.Snapshot();
  EXPECT_EQ(snapshot.started, 2);
  EXPECT_EQ(snapshot.finished, 1);
  EXPECT_EQ(snapshot.in_flight, 1);
  // When counting began, not when it was read.
  EXPECT_EQ(snapshot.start_time, absl::FromUnixSeconds(100));
}

TEST(ActivityCountersTest, WakesOnTheFirstCallAfterIdleOnly) {
  SimulatedClock clock(absl::FromUnixSeconds(100));
  ActivityCounters counters(&clock, absl::Seconds(5));
  int wakes = 0;
  counters.SetWakeCallback([&wakes] { ++wakes; });

  counters.CallStarted();  // The very first call ends the initial idle.
  EXPECT_EQ(wakes, 1);
  counters.CallStarted();  // Busy: one is in flight.
  counters.CallFinished();
  counters.CallFinished();
  clock.Advance(absl::Seconds(5));
  counters.CallStarted();  // Started since the last export: not idle yet.
  counters.CallFinished();
  EXPECT_EQ(wakes, 1);

  counters.MarkExported(counters.Snapshot());
  clock.Advance(absl::Seconds(5));
  counters.CallStarted();  // Nothing in flight, nothing since the export.
  EXPECT_EQ(wakes, 2);

  // An export while a call runs: the next call is not after idle.
  counters.MarkExported(counters.Snapshot());
  clock.Advance(absl::Seconds(5));
  counters.CallStarted();
  EXPECT_EQ(wakes, 2);
  counters.CallFinished();
  counters.CallFinished();
  EXPECT_EQ(wakes, 3);  // The export saw them running: report the quiet.
  // Both ended after the export, nothing started since: idle again.
  counters.MarkExported(counters.Snapshot());
  clock.Advance(absl::Seconds(5));
  counters.CallStarted();
  EXPECT_EQ(wakes, 4);
}

TEST(ActivityCountersTest, TheEndOfCallsAnExportSawRunningWakesOnce) {
  SimulatedClock clock(absl::FromUnixSeconds(100));
  ActivityCounters counters(&clock, absl::Seconds(5));
  int wakes = 0;
  counters.SetWakeCallback([&wakes] { ++wakes; });
  counters.CallStarted();
  counters.CallStarted();
  ASSERT_EQ(wakes, 1);
  counters.MarkExported(counters.Snapshot());  // Saw two running.
  counters.CallFinished();
  EXPECT_EQ(wakes, 1);  // One still runs.
  counters.CallFinished();
  EXPECT_EQ(wakes, 2);  // Quiet now: report it.
  counters.MarkExported(counters.Snapshot());
  // Calls the exports never saw running end quietly.
  clock.Advance(absl::Seconds(1));
  counters.CallStarted();
  counters.CallFinished();
  EXPECT_EQ(wakes, 2);

  // Ended between an export's snapshot and its MarkExported.
  counters.CallStarted();
  const ActivitySnapshot busy = counters.Snapshot();
  counters.CallFinished();
  EXPECT_EQ(wakes, 2);
  counters.MarkExported(busy);
  EXPECT_EQ(wakes, 3);
}

TEST(ActivityCountersTest, ATrickleOfCallsIsNotIdle) {
  SimulatedClock clock(absl::FromUnixSeconds(100));
  ActivityCounters counters(&clock, absl::Seconds(5));
  int wakes = 0;
  counters.SetWakeCallback([&wakes] { ++wakes; });
  for (int i = 0; i < 10; ++i) {
    counters.CallStarted();
    counters.CallFinished();
    // Exported after each call, as an at-once export would.
    counters.MarkExported(counters.Snapshot());
    clock.Advance(absl::Seconds(1));
  }
  EXPECT_EQ(wakes, 1);
  clock.Advance(absl::Seconds(4));
  counters.CallStarted();
  EXPECT_EQ(wakes, 2);
}

TEST(ActivityCountersTest, RemovedCallbackDoesNotRun) {
  ActivityCounters counters;
  int wakes = 0;
  counters.SetWakeCallback([&wakes] { ++wakes; });
  counters.SetWakeCallback(nullptr);
  counters.CallStarted();
  EXPECT_EQ(wakes, 0);
}

TEST(ActivityCountersTest, ConcurrentCallsWakeOnceAndAddUp) {
  ActivityCounters counters;
  std::atomic<int> wakes{0};
  counters.SetWakeCallback([&wakes] { ++wakes; });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&counters] {
      for (int i = 0; i < 1000; ++i) {
        counters.CallStarted();
        counters.CallFinished();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const ActivitySnapshot snapshot = counters.Snapshot();
  EXPECT_EQ(snapshot.started, 4000);
  EXPECT_EQ(snapshot.finished, 4000);
  EXPECT_EQ(snapshot.in_flight, 0);
  EXPECT_EQ(wakes.load(), 1);
}

}  // namespace
}  // namespace tether::agent
