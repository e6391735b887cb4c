#include "common/backoff.h"

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace tether {
namespace {

uint64_t Seed(uint64_t seed) {
  if (seed != 0) return seed;
  absl::BitGen gen;
  return absl::Uniform<uint64_t>(gen);
}

}  // namespace

absl::Status Backoff::Validate(const Options& options) {
  if (options.initial <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("backoff initial must be positive");
  }
  if (options.max < options.initial) {
    return absl::InvalidArgumentError(
        "backoff max must be at least its initial delay");
  }
  if (!(options.multiplier >= 1)) {
    return absl::InvalidArgumentError("backoff multiplier must be at least 1");
  }
  if (!(options.jitter >= 0 && options.jitter < 1)) {
    return absl::InvalidArgumentError("backoff jitter must be in [0, 1)");
  }
  return absl::OkStatus();
}

Backoff::Backoff(const Options& options)
    : options_(options), random_(Seed(options.seed)), next_(options.initial) {
  const absl::Status valid = Validate(options_);
  TETHER_CHECK(valid.ok()) << valid;
}

absl::Duration Backoff::NextDelay() {
  const absl::Duration delay = next_;
  next_ = std::min(next_ * options_.multiplier, options_.max);
  ++failures_;
  if (options_.jitter == 0) return delay;
  std::uniform_real_distribution<double> spread(1 - options_.jitter,
                                                1 + options_.jitter);
  return delay * spread(random_);
}

absl::Duration Backoff::NextDelayAfterRun(absl::Duration ran_for) {
  if (ran_for >= options_.reset_after) Reset();
  return NextDelay();
}

void Backoff::Reset() {
  next_ = options_.initial;
  failures_ = 0;
}

}  // namespace tether
