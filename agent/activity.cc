#include "agent/activity.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace tether::agent {

ActivityCounters::ActivityCounters(Clock* clock, absl::Duration idle_after)
    : clock_(clock),
      idle_after_(idle_after),
      start_time_(clock->Now()),
      last_started_ns_(std::numeric_limits<int64_t>::min()) {}

void ActivityCounters::CallStarted() {
  const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
  const int64_t previous_ns = last_started_ns_.exchange(now_ns);
  const int64_t started_before = started_.fetch_add(1);
  const int64_t in_flight_before = in_flight_.fetch_add(1);
  // Concurrent first calls: only the one that saw the idle counts unchanged
  // wakes the exporter.
  if (in_flight_before != 0 || started_before != exported_started_.load()) {
    return;
  }
  if (previous_ns != std::numeric_limits<int64_t>::min() &&
      absl::Nanoseconds(now_ns - previous_ns) < idle_after_) {
    return;
  }
  Wake();
}

void ActivityCounters::CallFinished() {
  finished_.fetch_add(1);
  if (in_flight_.fetch_sub(1) == 1 && exported_busy_.exchange(false)) Wake();
}

void ActivityCounters::Wake() {
  absl::MutexLock lock(&mu_);
  if (wake_) wake_();
}

ActivitySnapshot ActivityCounters::Snapshot() const {
  ActivitySnapshot snapshot;
  // finished first: started only grows, so started >= finished as read.
  snapshot.finished = finished_.load();
  snapshot.started = started_.load();
  snapshot.in_flight =
      std::max<int64_t>(0, snapshot.started - snapshot.finished);
  snapshot.start_time = start_time_;
  return snapshot;
}

void ActivityCounters::MarkExported(const ActivitySnapshot& snapshot) {
  exported_started_.store(snapshot.started);
  exported_busy_.store(snapshot.in_flight > 0);
  // The last call ended since the snapshot, before busy was stored.
  if (snapshot.in_flight > 0 && in_flight_.load() == 0 &&
      exported_busy_.exchange(false)) {
    Wake();
  }
}

void ActivityCounters::SetWakeCallback(std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  wake_ = std::move(callback);
}

}  // namespace tether::agent
