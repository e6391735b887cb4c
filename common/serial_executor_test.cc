#include "common/serial_executor.h"

#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace tether {
namespace {

TEST(SerialExecutorTest, RunsTasksInOrderOffTheCallersThread) {
  std::vector<int> order;
  std::thread::id ran_on;
  {
    SerialExecutor executor;
    for (int i = 0; i < 100; ++i) {
      executor.Run([&order, i] { order.push_back(i); });
    }
    executor.Run([&ran_on] { ran_on = std::this_thread::get_id(); });
  }  // The destructor finishes what was queued.
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(SerialExecutorTest, ShutdownWaitsForTheRunningTaskAndDropsLaterOnes) {
  SerialExecutor executor;
  absl::Notification started;
  absl::Notification release;
  bool finished = false;
  executor.Run([&] {
    started.Notify();
    release.WaitForNotification();
    finished = true;
  });
  started.WaitForNotification();
  std::thread stopper([&] { executor.Shutdown(); });
  release.Notify();
  stopper.join();
  EXPECT_TRUE(finished);
  bool ran_late = false;
  executor.Run([&] { ran_late = true; });
  executor.Shutdown();
  EXPECT_FALSE(ran_late);
}

}  // namespace
}  // namespace tether
