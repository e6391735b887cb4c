#include "common/clock.h"

#include <poll.h>
#include <unistd.h>

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tether {
namespace {

TEST(RealClockTest, AwaitReturnsOnceTheConditionHolds) {
  absl::Mutex mu;
  bool done = false;
  std::thread setter([&] {
    absl::MutexLock lock(&mu);
    done = true;
  });
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(Clock::Real()->AwaitWithDeadline(
        &mu, absl::Condition(&done), absl::InfiniteFuture()));
  }
  setter.join();
}

TEST(RealClockTest, PollTimesOutAtAPastDeadline) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pollfd fd = {pipe_fds[0], POLLIN, 0};
  const absl::StatusOr<int> ready =
      Clock::Real()->Poll(absl::MakeSpan(&fd, 1), absl::InfinitePast());
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(*ready, 0);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

TEST(SimulatedClockTest, MovesOnlyWhenAdvanced) {
  SimulatedClock clock(absl::FromUnixSeconds(100));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100));
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(105));
}

TEST(SimulatedClockTest, AdvancePastTheDeadlineEndsAnAwait) {
  SimulatedClock clock;
  absl::Mutex mu;
  bool never = false;
  bool result = true;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(&mu, absl::Condition(&never),
                                     clock.Now() + absl::Seconds(10));
  });
  clock.AwaitTimedWaiters(1);
  EXPECT_EQ(clock.DeadlinesForTest(),
            std::vector<absl::Time>{absl::UnixEpoch() + absl::Seconds(10)});
  clock.Advance(absl::Seconds(9));
  EXPECT_EQ(clock.DeadlinesForTest().size(), 1u);  // Not due yet.
  clock.Advance(absl::Seconds(1));
  waiter.join();
  EXPECT_FALSE(result);
  EXPECT_TRUE(clock.DeadlinesForTest().empty());
}

TEST(SimulatedClockTest, AwaitEndsEarlyWhenTheConditionHolds) {
  SimulatedClock clock;
  absl::Mutex mu;
  bool done = false;
  bool result = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(&mu, absl::Condition(&done),
                                     clock.Now() + absl::Hours(1));
  });
  clock.AwaitTimedWaiters(1);
  {
    absl::MutexLock lock(&mu);
    done = true;
  }
  waiter.join();
  EXPECT_TRUE(result);
  EXPECT_EQ(clock.Now(), absl::UnixEpoch());
}

TEST(SimulatedClockTest, AwaitWithAPassedDeadlineDoesNotWait) {
  SimulatedClock clock;
  absl::Mutex mu;
  bool never = false;
  absl::MutexLock lock(&mu);
  EXPECT_FALSE(
      clock.AwaitWithDeadline(&mu, absl::Condition(&never), clock.Now()));
}

TEST(SimulatedClockTest, AdvanceEndsAPoll) {
  SimulatedClock clock;
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  absl::StatusOr<int> ready;
  std::thread poller([&] {
    pollfd fd = {pipe_fds[0], POLLIN, 0};
    ready = clock.Poll(absl::MakeSpan(&fd, 1), clock.Now() + absl::Minutes(1));
  });
  clock.AwaitTimedWaiters(1);
  clock.Advance(absl::Minutes(1));
  poller.join();
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(*ready, 0);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

TEST(SimulatedClockTest, PollReportsAReadyFdBeforeTheDeadline) {
  SimulatedClock clock;
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  ASSERT_EQ(write(pipe_fds[1], "x", 1), 1);
  pollfd fd = {pipe_fds[0], POLLIN, 0};
  const absl::StatusOr<int> ready =
      clock.Poll(absl::MakeSpan(&fd, 1), clock.Now() + absl::Hours(1));
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(*ready, 1);
  EXPECT_NE(fd.revents & POLLIN, 0);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

TEST(SimulatedClockTest, SleepUntilReturnsWhenTimeArrives) {
  SimulatedClock clock;
  absl::Notification woke;
  std::thread sleeper([&] {
    clock.SleepUntil(absl::UnixEpoch() + absl::Seconds(3));
    woke.Notify();
  });
  clock.AwaitTimedWaiters(1);
  EXPECT_FALSE(woke.HasBeenNotified());
  clock.Advance(absl::Seconds(3));
  sleeper.join();
  EXPECT_TRUE(woke.HasBeenNotified());
}

}  // namespace
}  // namespace tether
