#include "kube/pod_log.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tether::kube {
namespace {

using json = nlohmann::json;

// Pod "p" whose container "tether" has `status` (a containerStatuses entry
// without its name).
json Pod(json status) {
  status["name"] = "tether";
  return {{"metadata", {{"name", "p"}}},
          {"status", {{"containerStatuses", json::array({status})}}}};
}

const json kRunning = {{"running", {{"startedAt", "2024-05-01T10:00:00Z"}}}};
const json kLastCrash = {
    {"terminated", {{"exitCode", 1}, {"containerID", "containerd://abc"}}}};

TEST(ContainerLogInstanceTest, ARunningContainerIsReadNow) {
  absl::StatusOr<LogInstance> instance =
      ContainerLogInstance(Pod({{"state", kRunning}}), "tether", false);
  ASSERT_TRUE(instance.ok()) << instance.status();
  EXPECT_EQ(*instance, LogInstance::kCurrent);
}

TEST(ContainerLogInstanceTest, ACrashLoopShowsItsLastRunWithoutPrevious) {
  const json pod =
      Pod({{"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
           {"lastState", kLastCrash}});
  absl::StatusOr<LogInstance> instance =
      ContainerLogInstance(pod, "tether", false);
  ASSERT_TRUE(instance.ok()) << instance.status();
  EXPECT_EQ(*instance, LogInstance::kPrevious);
  instance = ContainerLogInstance(pod, "tether", true);
  ASSERT_TRUE(instance.ok()) << instance.status();
  EXPECT_EQ(*instance, LogInstance::kPrevious);
}

TEST(ContainerLogInstanceTest, ARestartedContainerHasBothInstances) {
  const json pod = Pod({{"state", kRunning}, {"lastState", kLastCrash}});
  EXPECT_EQ(*ContainerLogInstance(pod, "tether", false), LogInstance::kCurrent);
  EXPECT_EQ(*ContainerLogInstance(pod, "tether", true), LogInstance::kPrevious);
}

TEST(ContainerLogInstanceTest, NoInstanceGivesTheKubeletsMessage) {
  const json creating =
      Pod({{"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}});
  absl::StatusOr<LogInstance> instance =
      ContainerLogInstance(creating, "tether", false);
  EXPECT_TRUE(absl::IsInvalidArgument(instance.status()));
  EXPECT_EQ(instance.status().message(),
            "container \"tether\" in pod \"p\" is waiting to start: "
            "ContainerCreating");
  EXPECT_EQ(ContainerLogInstance(creating, "tether", true).status().message(),
            "previous terminated container \"tether\" in pod \"p\" not found");
  EXPECT_EQ(
      ContainerLogInstance(
          Pod({{"state", {{"waiting", {{"reason", "ImagePullBackOff"}}}}}}),
          "tether", false)
          .status()
          .message(),
      "container \"tether\" in pod \"p\" is waiting to start: trying and "
      "failing to pull image");
  EXPECT_EQ(ContainerLogInstance(Pod({{"state", kRunning}}), "other", false)
                .status()
                .message(),
            "container \"other\" in pod \"p\" is not available");
  EXPECT_EQ(ContainerLogInstance(Pod(json::object()), "tether", false)
                .status()
                .message(),
            "container \"tether\" in pod \"p\" is waiting to start - no logs "
            "yet");
}

TEST(ParseTimestampedLogTest, ReadsTimesInAnyOffsetToTheNanosecond) {
  const std::vector<PodLogLine> lines = ParseTimestampedLog(
      "2024-05-01T10:00:00.123456789Z first line\n"
      "2024-05-01T12:00:01+02:00 second  line \n"
      "2024-05-01T10:00:02Z\n");
  ASSERT_EQ(lines.size(), 3u);
  const absl::Time base = absl::FromCivil(
      absl::CivilSecond(2024, 5, 1, 10, 0, 0), absl::UTCTimeZone());
  EXPECT_EQ(lines[0].time, base + absl::Nanoseconds(123456789));
  EXPECT_EQ(lines[0].text, "first line");
  EXPECT_EQ(lines[1].time, base + absl::Seconds(1));
  EXPECT_EQ(lines[1].text, "second  line ");
  EXPECT_EQ(lines[2].time, base + absl::Seconds(2));
  EXPECT_EQ(lines[2].text, "");
}

TEST(ParseTimestampedLogTest, KeepsUnstampedLinesAndDropsACutLastLine) {
  const std::vector<PodLogLine> lines = ParseTimestampedLog(
      "no time here\n"
      "2024-05-01T10:00:00Z stamped\n"
      "also no time\n"
      "2024-05-01T10:0");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].time, absl::InfinitePast());
  EXPECT_EQ(lines[0].text, "no time here");
  EXPECT_EQ(lines[2].time, lines[1].time);
  EXPECT_EQ(lines[2].text, "also no time");
  // Cut after its time, the last line keeps what it has.
  EXPECT_EQ(ParseTimestampedLog("2024-05-01T10:00:00Z cut he").back().text,
            "cut he");
  EXPECT_TRUE(ParseTimestampedLog("").empty());
}

}  // namespace
}  // namespace tether::kube
