#include "tools/cli/signal_catcher.h"

#include <signal.h>

#include <atomic>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tether::cli {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(20);

std::atomic<int> g_custom_calls{0};
void CustomHandler(int) { ++g_custom_calls; }

struct sigaction Disposition(int signo) {
  struct sigaction current;
  sigaction(signo, nullptr, &current);
  return current;
}

TEST(SignalCatcherTest, FirstSignalRunsTheCallbackOnItsThread) {
  absl::Notification caught;
  std::atomic<int> seen{0};
  absl::StatusOr<std::unique_ptr<SignalCatcher>> catcher =
      SignalCatcher::Create({SIGUSR1, SIGUSR2}, [&](int signo) {
        seen = signo;
        caught.Notify();
      });
  ASSERT_TRUE(catcher.ok()) << catcher.status();
  ASSERT_EQ(raise(SIGUSR2), 0);
  ASSERT_TRUE(caught.WaitForNotificationWithTimeout(kPatience));
  EXPECT_EQ(seen, SIGUSR2);
  // The handler reset itself, so a second Ctrl-C would kill as usual.
  EXPECT_EQ(Disposition(SIGUSR2).sa_handler, SIG_DFL);
  // The other one is still caught until the catcher goes.
  EXPECT_NE(Disposition(SIGUSR1).sa_handler, SIG_DFL);
}

TEST(SignalCatcherTest, OnlyOneAtATime) {
  absl::StatusOr<std::unique_ptr<SignalCatcher>> first =
      SignalCatcher::Create({SIGUSR1}, [](int) {});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(SignalCatcher::Create({SIGUSR1}, [](int) {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  first->reset();
  EXPECT_TRUE(SignalCatcher::Create({SIGUSR1}, [](int) {}).ok());
}

TEST(SignalCatcherTest, RestoresThePreviousHandlers) {
  struct sigaction custom = {};
  custom.sa_handler = CustomHandler;
  sigemptyset(&custom.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &custom, nullptr), 0);
  {
    absl::StatusOr<std::unique_ptr<SignalCatcher>> catcher =
        SignalCatcher::Create({SIGUSR1}, [](int) {});
    ASSERT_TRUE(catcher.ok());
    EXPECT_NE(Disposition(SIGUSR1).sa_handler, CustomHandler);
  }
  EXPECT_EQ(Disposition(SIGUSR1).sa_handler, CustomHandler);
  ASSERT_EQ(raise(SIGUSR1), 0);
  EXPECT_EQ(g_custom_calls, 1);
  signal(SIGUSR1, SIG_DFL);
}

TEST(SignalCatcherTest, RejectsBadSignalNumbers) {
  EXPECT_EQ(SignalCatcher::Create({0}, [](int) {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether::cli
