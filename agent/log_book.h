#ifndef TETHER_AGENT_LOG_BOOK_H_
#define TETHER_AGENT_LOG_BOOK_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tether/v1/call.pb.h"

namespace tether::agent {

/// The replica's recent log lines, for `tether logs`: a bounded buffer (by
/// lines and by bytes) that drops the oldest when full. Every line gets a
/// sequence number, so readers keep a cursor, learn how many lines they
/// missed when the buffer overtook them, and ask to be woken when new
/// lines come (`follow`). Appending never blocks on readers.
/// Thread-safe.
class LogBook {
 public:
  struct Options {
    size_t max_lines = 10000;
    size_t max_bytes = 4 << 20;
  };

  /// What a reader gets from its cursor on.
  struct Batch {
    std::vector<tether::v1::LogLine> lines;
    /// Lines between the cursor and the first of `lines` that the buffer
    /// no longer holds.
    uint64_t dropped = 0;
    /// The cursor after this batch.
    uint64_t next = 0;
  };

  explicit LogBook(Options options);

  void Append(tether::v1::LogLine line);

  /// The cursor of the first kept line printed at or after `since`
  /// (InfinitePast: the oldest kept line).
  uint64_t CursorAt(absl::Time since) const;
  /// Up to `max` lines from `cursor` on.
  Batch Read(uint64_t cursor, size_t max) const;

  /// Calls `wake` once, from the thread that appends, when a line at or
  /// after `cursor` exists (at once, on this thread, if one does). It must
  /// not block; it may read the book. Returns an id for CancelWake.
  uint64_t WakeAt(uint64_t cursor, std::function<void()> wake);
  /// The wake-up will not be started from now on; one already started
  /// may still be running, so `wake` must guard what it touches.
  void CancelWake(uint64_t id);

 private:
  struct Waiter {
    uint64_t cursor;
    std::function<void()> wake;
  };

  static size_t SizeOf(const tether::v1::LogLine& line);

  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<tether::v1::LogLine> lines_ ABSL_GUARDED_BY(mu_);
  // Sequence number of lines_.front().
  uint64_t first_ ABSL_GUARDED_BY(mu_) = 0;
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  uint64_t next_waiter_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_LOG_BOOK_H_
