#include "common/backoff.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tether {
namespace {

Backoff::Options Exact() {
  Backoff::Options options;
  options.initial = absl::Milliseconds(100);
  options.max = absl::Milliseconds(500);
  return options;
}

TEST(BackoffTest, DoublesUpToTheCap) {
  Backoff backoff(Exact());
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(100));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(200));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(400));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(500));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(500));
  EXPECT_EQ(backoff.failures(), 5);
}

TEST(BackoffTest, ResetStartsOver) {
  Backoff backoff(Exact());
  backoff.NextDelay();
  backoff.NextDelay();
  backoff.Reset();
  EXPECT_EQ(backoff.failures(), 0);
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(100));
}

TEST(BackoffTest, AHealthyRunResets) {
  Backoff::Options options = Exact();
  options.reset_after = absl::Minutes(1);
  Backoff backoff(options);
  EXPECT_EQ(backoff.NextDelayAfterRun(absl::Seconds(1)),
            absl::Milliseconds(100));
  EXPECT_EQ(backoff.NextDelayAfterRun(absl::Seconds(59)),
            absl::Milliseconds(200));
  EXPECT_EQ(backoff.NextDelayAfterRun(absl::Minutes(1)),
            absl::Milliseconds(100));
}

TEST(BackoffTest, UsesTheMultiplier) {
  Backoff::Options options = Exact();
  options.multiplier = 1.5;
  Backoff backoff(options);
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(100));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(150));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(225));
}

TEST(BackoffTest, JitterStaysInRangeAndIsSeeded) {
  Backoff::Options options = Exact();
  options.jitter = 0.2;
  options.seed = 42;
  Backoff first(options);
  Backoff second(options);
  bool varied = false;
  for (int i = 0; i < 20; ++i) {
    const absl::Duration base = i == 0   ? absl::Milliseconds(100)
                                : i == 1 ? absl::Milliseconds(200)
                                : i == 2 ? absl::Milliseconds(400)
                                         : absl::Milliseconds(500);
    const absl::Duration delay = first.NextDelay();
    EXPECT_EQ(delay, second.NextDelay());  // Same seed, same delays.
    EXPECT_GE(delay, base * 0.8);
    EXPECT_LE(delay, base * 1.2);
    varied = varied || delay != base;
  }
  EXPECT_TRUE(varied);
}

TEST(BackoffTest, ValidateNamesTheBadOption) {
  Backoff::Options options = Exact();
  EXPECT_TRUE(Backoff::Validate(options).ok());
  options.initial = absl::ZeroDuration();
  EXPECT_EQ(Backoff::Validate(options).code(),
            absl::StatusCode::kInvalidArgument);
  options = Exact();
  options.max = absl::Milliseconds(50);
  EXPECT_FALSE(Backoff::Validate(options).ok());
  options = Exact();
  options.multiplier = 0.5;
  EXPECT_FALSE(Backoff::Validate(options).ok());
  options = Exact();
  options.jitter = 1;
  EXPECT_FALSE(Backoff::Validate(options).ok());
}

}  // namespace
}  // namespace tether
