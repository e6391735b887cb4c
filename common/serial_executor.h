#ifndef TETHER_COMMON_SERIAL_EXECUTOR_H_
#define TETHER_COMMON_SERIAL_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace tether {

/// Runs tasks one at a time, in the order they were added, on a thread of
/// its own: for slow work (remote API calls with retries) that must not
/// block the thread that asks for it, such as a gRPC callback thread.
/// Thread-safe.
class SerialExecutor {
 public:
  SerialExecutor();
  /// Shutdown, then joins.
  ~SerialExecutor();
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  /// Queues `task`. After Shutdown, tasks are dropped.
  void Run(std::function<void()> task);
  /// Finishes the task running now and the ones queued, then stops taking
  /// tasks. Blocks until then; idempotent. Must not be called from a task.
  void Shutdown();

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: starts once the members above exist.
};

}  // namespace tether

#endif  // TETHER_COMMON_SERIAL_EXECUTOR_H_
