#ifndef TETHER_COMMON_BACKOFF_H_
#define TETHER_COMMON_BACKOFF_H_

// The one retry delay: jittered, capped exponential backoff.

#include <cstdint>
#include <random>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tether {

/// Delays between attempts: `initial`, then times `multiplier` per failure
/// up to `max`, each spread by +-`jitter` so many clients retrying at once
/// do not stay in step. Reset() (or a healthy run, see NextDelayAfterRun)
/// starts over.
///
/// Not thread-safe: the one retrying loop that owns it calls it.
class Backoff {
 public:
  struct Options {
    /// Delay after the first failure. Must be positive.
    absl::Duration initial = absl::Milliseconds(100);
    /// Cap before jitter. At least `initial`.
    absl::Duration max = absl::Seconds(10);
    /// Growth per consecutive failure. At least 1.
    double multiplier = 2;
    /// Each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter].
    /// In [0, 1); 0 gives exact delays.
    double jitter = 0;
    /// A run at least this long counts as healthy (NextDelayAfterRun).
    absl::Duration reset_after = absl::InfiniteDuration();
    /// Seeds the jitter; 0 picks a random seed. Tests pass a fixed one.
    uint64_t seed = 0;
  };

  /// INVALID_ARGUMENT naming the option that is out of range.
  static absl::Status Validate(const Options& options);

  /// `options` must pass Validate (checked: a bad one is a programming
  /// error, callers validate their own options first).
  explicit Backoff(const Options& options);

  /// The delay before the next attempt; the one after it grows.
  absl::Duration NextDelay();

  /// NextDelay, after a Reset when the attempt that just failed had run for
  /// at least `reset_after` (a crash after a long healthy run is not part
  /// of a crash loop).
  absl::Duration NextDelayAfterRun(absl::Duration ran_for);

  /// The next delay is `initial` again.
  void Reset();

  /// Failures since the last Reset.
  int failures() const { return failures_; }

 private:
  Options options_;
  std::mt19937_64 random_;
  absl::Duration next_;
  int failures_ = 0;
};

}  // namespace tether

#endif  // TETHER_COMMON_BACKOFF_H_
