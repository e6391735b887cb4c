#include "common/log.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tether {
namespace {

// A line as LogMessage stamps it at `time`.
std::string LineAt(absl::Time time) {
  return absl::StrCat(
      absl::FormatTime("W%m%d %H:%M:%E6S", time, absl::LocalTimeZone()),
      " 42 agent.cc:7] text");
}

TEST(LogLineTimeTest, ReadsTheStampToTheMicrosecond) {
  const absl::Time now = absl::FromUnixMicros(1714557600123456);
  EXPECT_EQ(LogLineTime(LineAt(now - absl::Minutes(5)), now),
            now - absl::Minutes(5));
}

TEST(LogLineTimeTest, AStampFromLastDecemberIsLastYears) {
  const absl::TimeZone zone = absl::LocalTimeZone();
  const absl::Time now =
      absl::FromCivil(absl::CivilSecond(2025, 1, 1, 0, 10, 0), zone);
  const absl::Time written =
      absl::FromCivil(absl::CivilSecond(2024, 12, 31, 23, 50, 0), zone);
  EXPECT_EQ(LogLineTime(LineAt(written), now), written);
}

TEST(LogLineTimeTest, OtherLinesHaveNoTime) {
  const absl::Time now = absl::Now();
  EXPECT_EQ(LogLineTime("Traceback (most recent call last):", now),
            std::nullopt);
  EXPECT_EQ(LogLineTime("I1203", now), std::nullopt);
  EXPECT_EQ(LogLineTime("X1203 12:34:56.123456 1 a.cc:1] no", now),
            std::nullopt);
}

}  // namespace
}  // namespace tether
