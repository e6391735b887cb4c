#include "agent/agent_metrics.h"

#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/metrics_text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class AgentMetricsTest : public ::testing::Test {
 protected:
  std::string Text() const { return MetricsText(metrics_.registry()); }

  SimulatedClock clock_;
  AgentMetrics metrics_{&clock_};
};

TEST_F(AgentMetricsTest, StartsWithZeroedSeries) {
  const std::string text = Text();
  EXPECT_THAT(text, HasSubstr("tether_agent_calls_total{outcome=\"ok\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("tether_agent_calls_in_flight 0\n"));
  EXPECT_THAT(text, HasSubstr("tether_agent_call_duration_seconds_count 0\n"));
  EXPECT_THAT(text,
              HasSubstr("tether_agent_syncs_total{outcome=\"failed\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("tether_agent_reloads_total{outcome=\"ok\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE tether_agent_reload_duration_seconds "
                              "histogram\n"));
}

TEST_F(AgentMetricsTest, CountsCallsByOutcomeWithLatencyAndInFlight) {
  const absl::Time first = metrics_.CallStarted();
  const absl::Time second = metrics_.CallStarted();
  EXPECT_THAT(Text(), HasSubstr("tether_agent_calls_in_flight 2\n"));
  clock_.Advance(absl::Milliseconds(1500));
  metrics_.CallFinished(first, grpc::StatusCode::OK);
  clock_.Advance(absl::Milliseconds(500));
  metrics_.CallFinished(second, grpc::StatusCode::INVALID_ARGUMENT);

  const std::string text = Text();
  EXPECT_THAT(text, HasSubstr("tether_agent_calls_total{outcome=\"ok\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("tether_agent_calls_total{outcome=\"invalid_argument\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("outcome=\"not_found\"")));
  EXPECT_THAT(text, HasSubstr("tether_agent_calls_in_flight 0\n"));
  EXPECT_THAT(text, HasSubstr("tether_agent_call_duration_seconds_count 2\n"));
  EXPECT_THAT(text, HasSubstr("tether_agent_call_duration_seconds_sum 3.5\n"));
  EXPECT_THAT(
      text,
      HasSubstr("tether_agent_call_duration_seconds_bucket{le=\"1\"} 0\n"));
  EXPECT_THAT(
      text,
      HasSubstr("tether_agent_call_duration_seconds_bucket{le=\"2.5\"} 2\n"));
}

TEST_F(AgentMetricsTest, CodesOutOfRangeCountAsUnknown) {
  metrics_.CallFinished(metrics_.CallStarted(),
                        static_cast<grpc::StatusCode>(99));
  EXPECT_THAT(Text(),
              HasSubstr("tether_agent_calls_total{outcome=\"unknown\"} 1\n"));
}

TEST_F(AgentMetricsTest, CountsSyncsAndReloadsWithReloadTime) {
  metrics_.SyncEnded(true);
  metrics_.SyncEnded(false);
  metrics_.SyncEnded(true);
  const absl::Time started = metrics_.ReloadStarted();
  clock_.Advance(absl::Seconds(3));
  metrics_.ReloadEnded(started, true);
  metrics_.ReloadEnded(metrics_.ReloadStarted(), false);

  const std::string text = Text();
  EXPECT_THAT(text, HasSubstr("tether_agent_syncs_total{outcome=\"ok\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("tether_agent_syncs_total{outcome=\"failed\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("tether_agent_reloads_total{outcome=\"ok\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("tether_agent_reloads_total{outcome=\"failed\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_agent_reload_duration_seconds_sum 3\n"));
  EXPECT_THAT(text,
              HasSubstr("tether_agent_reload_duration_seconds_count 2\n"));
}

TEST_F(AgentMetricsTest, ConcurrentCallsAllCount) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 1000; ++i) {
        metrics_.CallFinished(metrics_.CallStarted(),
                              static_cast<grpc::StatusCode>(t % 2 * 5));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::string text = Text();
  EXPECT_THAT(text,
              HasSubstr("tether_agent_calls_total{outcome=\"ok\"} 2000\n"));
  EXPECT_THAT(
      text,
      HasSubstr("tether_agent_calls_total{outcome=\"not_found\"} 2000\n"));
  EXPECT_THAT(text, HasSubstr("tether_agent_calls_in_flight 0\n"));
}

}  // namespace
}  // namespace tether::agent
