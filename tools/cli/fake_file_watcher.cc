#include "tools/cli/fake_file_watcher.h"

#include <utility>

namespace tether::cli {
namespace {

// How long an exhausted script waits for the test to stop the loop.
constexpr absl::Duration kExhaustedWait = absl::Seconds(30);

}  // namespace

absl::Time FakeWatchScript::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

void FakeWatchScript::Advance(absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  now_ += duration;
}

void FakeWatchScript::Then(absl::Duration after, std::vector<WatchEvent> events,
                           std::function<void()> action) {
  absl::MutexLock lock(&mu_);
  steps_.push_back(Step{after, std::move(events), std::move(action)});
}

void FakeWatchScript::ThenFail(absl::Duration after, absl::Status error) {
  absl::MutexLock lock(&mu_);
  steps_.push_back(Step{after, {}, nullptr, std::move(error)});
}

FileWatcherFactory FakeWatchScript::Factory() {
  return [this](const WatchSpec& spec)
             -> absl::StatusOr<std::unique_ptr<FileWatcher>> {
    absl::MutexLock lock(&mu_);
    specs_.push_back(spec);
    if (!fail_next_create_.ok()) {
      return std::exchange(fail_next_create_, absl::OkStatus());
    }
    return std::make_unique<FakeFileWatcher>(this);
  };
}

std::vector<WatchSpec> FakeWatchScript::specs() const {
  absl::MutexLock lock(&mu_);
  return specs_;
}

void FakeWatchScript::FailNextCreate(absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_next_create_ = std::move(status);
}

size_t FakeWatchScript::pending() const {
  absl::MutexLock lock(&mu_);
  return steps_.size();
}

absl::StatusOr<std::vector<WatchEvent>> FakeWatchScript::Wait(
    absl::Duration timeout) {
  Step step;
  {
    absl::MutexLock lock(&mu_);
    if (steps_.empty() && timeout != absl::InfiniteDuration() && !woken_) {
      now_ += timeout;
      return std::vector<WatchEvent>();
    }
    if (steps_.empty()) {
      // The end of a script: the test stops the loop, maybe from another
      // thread (a signal's). Bounded, so a test that forgets fails.
      const absl::Time give_up = absl::Now() + kExhaustedWait;
      while (!woken_ && !wake_.WaitWithDeadline(&mu_, give_up)) {
      }
      if (!woken_) {
        return absl::FailedPreconditionError(
            "fake watcher: script exhausted and nothing stopped the loop");
      }
    }
    if (std::exchange(woken_, false)) return std::vector<WatchEvent>();
    Step& next = steps_.front();
    if (next.after > timeout) {
      now_ += timeout;
      next.after -= timeout;
      return std::vector<WatchEvent>();
    }
    now_ += next.after;
    step = std::move(next);
    steps_.pop_front();
  }
  if (step.action) step.action();
  if (!step.error.ok()) return step.error;
  return std::move(step.events);
}

void FakeWatchScript::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
  wake_.SignalAll();
}

absl::StatusOr<std::vector<WatchEvent>> FakeFileWatcher::Wait(
    absl::Duration timeout) {
  return script_->Wait(timeout);
}

void FakeFileWatcher::Wake() { script_->Wake(); }

}  // namespace tether::cli
