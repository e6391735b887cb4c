#include "common/clock.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>

#include "absl/time/clock.h"
#include "common/files.h"

namespace tether {
namespace {

// poll(2) with EINTR retried; `timeout_ms` as poll takes it.
absl::StatusOr<int> PollOnce(pollfd* fds, size_t count, int timeout_ms) {
  while (true) {
    const int ready = poll(fds, count, timeout_ms);
    if (ready >= 0) return ready;
    if (errno != EINTR) return ErrnoStatus(errno, "poll", "");
  }
}

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }

  bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                         absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return mu->AwaitWithDeadline(cond, deadline);
  }

  absl::StatusOr<int> Poll(absl::Span<pollfd> fds,
                           absl::Time deadline) override {
    while (true) {
      int timeout_ms = -1;
      if (deadline != absl::InfiniteFuture()) {
        // Rounded up: poll may not return before the deadline.
        const absl::Duration left =
            std::max(deadline - absl::Now(), absl::ZeroDuration());
        timeout_ms = static_cast<int>(std::min<int64_t>(
            absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
            INT_MAX));
      }
      const absl::StatusOr<int> ready =
          PollOnce(fds.data(), fds.size(), timeout_ms);
      // A timeout cut short by INT_MAX waits on.
      if (!ready.ok() || *ready > 0 || absl::Now() >= deadline) return ready;
    }
  }
};

}  // namespace

Clock* Clock::Real() {
  static RealClock* const clock = new RealClock();
  return clock;
}

void Clock::SleepUntil(absl::Time deadline) {
  absl::Mutex mu;
  absl::MutexLock lock(&mu);
  static const bool kNever = false;
  AwaitWithDeadline(&mu, absl::Condition(&kNever), deadline);
}

// One thread waiting for a deadline, in AwaitWithDeadline (on `mu`) or in
// Poll (on `eventfd`).
struct SimulatedClock::Waiter {
  // `mu` is set here, not under `guard`: taking `guard` while holding `mu`
  // would order the two both ways.
  Waiter(absl::Time deadline, absl::Mutex* mu) : deadline(deadline), mu(mu) {}
  ~Waiter() {
    if (eventfd >= 0) close(eventfd);
  }

  const absl::Time deadline;
  // Set by Advance once time reached the deadline.
  std::atomic<bool> fired{false};
  int eventfd = -1;
  // Held by Advance while it touches `mu`, so the waiter cannot leave (and
  // its mutex go away) meanwhile.
  absl::Mutex guard;
  // The caller's mutex; null once the waiter left.
  absl::Mutex* mu ABSL_GUARDED_BY(guard) = nullptr;
};

SimulatedClock::SimulatedClock(absl::Time start) : now_(start) {}

SimulatedClock::~SimulatedClock() = default;

absl::Time SimulatedClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

bool SimulatedClock::AddWaiter(const std::shared_ptr<Waiter>& waiter) {
  absl::MutexLock lock(&mu_);
  if (now_ >= waiter->deadline) return false;
  waiters_.push_back(waiter);
  return true;
}

void SimulatedClock::RemoveWaiter(const std::shared_ptr<Waiter>& waiter) {
  absl::MutexLock lock(&mu_);
  waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), waiter),
                 waiters_.end());
}

bool SimulatedClock::AwaitWithDeadline(absl::Mutex* mu,
                                       const absl::Condition& cond,
                                       absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) {
    mu->Await(cond);
    return true;
  }
  while (!cond.Eval()) {
    auto waiter = std::make_shared<Waiter>(deadline, mu);
    if (!AddWaiter(waiter)) return false;
    auto woken = [&cond, &waiter] {
      return waiter->fired.load() || cond.Eval();
    };
    mu->Await(absl::Condition(&woken));
    // Leave without holding `mu`: Advance locks it while holding `guard`.
    mu->Unlock();
    {
      absl::MutexLock lock(&waiter->guard);
      waiter->mu = nullptr;
    }
    RemoveWaiter(waiter);
    mu->Lock();
  }
  return true;
}

absl::StatusOr<int> SimulatedClock::Poll(absl::Span<pollfd> fds,
                                         absl::Time deadline) {
  std::vector<pollfd> all(fds.begin(), fds.end());
  std::shared_ptr<Waiter> waiter;
  int timeout_ms = -1;
  if (deadline <= Now()) {
    timeout_ms = 0;  // Already due: only look.
  } else if (deadline != absl::InfiniteFuture()) {
    waiter = std::make_shared<Waiter>(deadline, nullptr);
    waiter->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (waiter->eventfd < 0) return ErrnoStatus(errno, "eventfd", "");
    if (AddWaiter(waiter)) {
      all.push_back({waiter->eventfd, POLLIN, 0});
    } else {
      timeout_ms = 0;  // Time moved past it meanwhile.
      waiter = nullptr;
    }
  }
  absl::StatusOr<int> ready = PollOnce(all.data(), all.size(), timeout_ms);
  if (waiter != nullptr) {
    RemoveWaiter(waiter);
    if (ready.ok() && all.back().revents != 0) --*ready;
  }
  for (size_t i = 0; i < fds.size(); ++i) fds[i].revents = all[i].revents;
  return ready;
}

void SimulatedClock::Advance(absl::Duration d) {
  std::vector<std::shared_ptr<Waiter>> due;
  {
    absl::MutexLock lock(&mu_);
    now_ += d;
    auto it = std::partition(
        waiters_.begin(), waiters_.end(),
        [this](const std::shared_ptr<Waiter>& w)
            ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return w->deadline > now_; });
    due.assign(it, waiters_.end());
    waiters_.erase(it, waiters_.end());
    for (const auto& waiter : due) waiter->fired = true;
  }
  for (const auto& waiter : due) {
    if (waiter->eventfd >= 0) {
      const uint64_t one = 1;
      (void)!write(waiter->eventfd, &one, sizeof(one));
      continue;
    }
    absl::MutexLock lock(&waiter->guard);
    if (waiter->mu != nullptr) {
      // Unlocking makes absl re-evaluate the waiter's condition.
      waiter->mu->Lock();
      waiter->mu->Unlock();
    }
  }
}

void SimulatedClock::AwaitTimedWaiters(int count) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(waiters_.size()) >= count;
  };
  mu_.Await(absl::Condition(&enough));
}

std::vector<absl::Time> SimulatedClock::DeadlinesForTest() const {
  absl::MutexLock lock(&mu_);
  std::vector<absl::Time> deadlines;
  for (const auto& waiter : waiters_) deadlines.push_back(waiter->deadline);
  std::sort(deadlines.begin(), deadlines.end());
  return deadlines;
}

}  // namespace tether
