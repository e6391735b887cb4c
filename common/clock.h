#ifndef TETHER_COMMON_CLOCK_H_
#define TETHER_COMMON_CLOCK_H_

// The one source of time: code that waits for a deadline asks a Clock, so
// tests swap in a SimulatedClock and move time instead of sleeping.

#include <poll.h>

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace tether {

/// Tells the time and waits for deadlines. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;

  /// The process-wide real clock (absl::Now, real waits). Never null.
  static Clock* Real();

  virtual absl::Time Now() const = 0;

  /// With `mu` held, waits until `cond` holds or Now() reaches `deadline`,
  /// whichever is first; `mu` may be released meanwhile and is held again
  /// on return. Returns whether `cond` holds.
  virtual bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                 absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;

  /// poll(2) until one of `fds` is ready or Now() reaches `deadline`
  /// (InfiniteFuture: no deadline). Returns the number of ready fds (0 once
  /// the deadline passed, their revents set as poll sets them); retries
  /// after EINTR; other poll errors as an errno status.
  virtual absl::StatusOr<int> Poll(absl::Span<pollfd> fds,
                                   absl::Time deadline) = 0;

  /// Blocks until Now() reaches `deadline`.
  void SleepUntil(absl::Time deadline);
};

/// Time that moves only when a test calls Advance. Waiters whose deadline
/// Advance passes wake up; everything else behaves as with the real clock.
/// Thread-safe.
class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(absl::Time start = absl::UnixEpoch());
  ~SimulatedClock() override;

  absl::Time Now() const override;
  bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                         absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  absl::StatusOr<int> Poll(absl::Span<pollfd> fds,
                           absl::Time deadline) override;

  /// Moves time forward by `d` (>= 0) and wakes the waiters whose deadline
  /// is now reached. They run on their own threads afterwards: wait for
  /// what they do, not for Advance.
  void Advance(absl::Duration d);

  /// Blocks until at least `count` threads wait for a finite deadline, so a
  /// test advances time only once the code under test waits for it.
  void AwaitTimedWaiters(int count);

  /// Deadlines of the current timed waiters, earliest first.
  std::vector<absl::Time> DeadlinesForTest() const;

 private:
  struct Waiter;

  // False (and not added) when its deadline has already passed.
  bool AddWaiter(const std::shared_ptr<Waiter>& waiter);
  void RemoveWaiter(const std::shared_ptr<Waiter>& waiter);

  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Waiter>> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether

#endif  // TETHER_COMMON_CLOCK_H_
