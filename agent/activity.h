#ifndef TETHER_AGENT_ACTIVITY_H_
#define TETHER_AGENT_ACTIVITY_H_

// What tetherd's TTL controller needs from a replica: calls started,
// finished and in flight (see "Activity and TTL" in docs/ARCHITECTURE.md).

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace tether::agent {

/// The counters at one moment.
struct ActivitySnapshot {
  int64_t started = 0;
  int64_t finished = 0;
  /// started - finished as read (never negative).
  int64_t in_flight = 0;
  /// When counting began: the start of the cumulative sums
  /// (OTLP start_time_unix_nano).
  absl::Time start_time;
};

/// Counts this replica's calls. A call counts as activity when it starts,
/// not when it ends, so a long call is visible at once.
///
/// Wakes a registered callback on the first call after an idle period:
/// nothing in flight, nothing started since the last MarkExported, and no
/// call started for `idle_after` (the export interval). The exporter then
/// reports at once instead of after its interval, so a call to a service
/// near its inactivity TTL is seen before the TTL acts; a steady trickle of
/// calls does not turn every call into an export. It also wakes when the
/// last call in flight ends after an export that saw calls running, so the
/// quiet is reported at once too (`tether ls` shows no stale in-flight
/// count): at most one such export per export made while busy.
///
/// Thread-safe. CallStarted/CallFinished are lock-free except on the
/// wake-up path, which runs at most once per idle period.
class ActivityCounters {
 public:
  /// Counting starts now (`clock`'s time). `clock` is not owned, never null.
  explicit ActivityCounters(Clock* clock = Clock::Real(),
                            absl::Duration idle_after = absl::Seconds(5));

  ActivityCounters(const ActivityCounters&) = delete;
  ActivityCounters& operator=(const ActivityCounters&) = delete;

  /// A call was accepted and is handed to the workers. Runs the wake-up
  /// callback (on this thread) when it ends an idle period.
  void CallStarted();
  /// A call that CallStarted counted has ended, however it ended. Runs the
  /// wake-up callback (on this thread) when it was the last one in flight
  /// and the last export saw it running.
  void CallFinished();

  ActivitySnapshot Snapshot() const;

  /// `snapshot` (taken with Snapshot) is what the receiver was last sent:
  /// calls it counted no longer end an idle period.
  void MarkExported(const ActivitySnapshot& snapshot);

  /// Replaces the wake-up callback; empty removes it. It must be quick and
  /// must not block (it runs on the thread that starts the call). Once this
  /// returns, the previous callback is not running and will not run.
  void SetWakeCallback(std::function<void()> callback);

 private:
  // Runs the callback, if any.
  void Wake();

  Clock* const clock_;
  const absl::Duration idle_after_;
  const absl::Time start_time_;
  // When the last call started (Unix ns); InfinitePast's before any.
  std::atomic<int64_t> last_started_ns_;
  std::atomic<int64_t> started_{0};
  std::atomic<int64_t> finished_{0};
  // Kept apart from started_ - finished_ so CallStarted sees "nothing in
  // flight" from one atomic operation.
  std::atomic<int64_t> in_flight_{0};
  // started_ as of the last MarkExported.
  std::atomic<int64_t> exported_started_{0};
  // The last MarkExported saw calls in flight, and their end was not
  // reported yet.
  std::atomic<bool> exported_busy_{false};

  // Held while the callback runs, so SetWakeCallback can remove it safely.
  absl::Mutex mu_;
  std::function<void()> wake_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_ACTIVITY_H_
