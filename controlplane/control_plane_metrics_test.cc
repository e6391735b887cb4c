#include "controlplane/control_plane_metrics.h"

#include <string>

#include "common/clock.h"
#include "common/metrics_text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ControlPlaneMetricsTest : public ::testing::Test {
 protected:
  std::string Text() const { return MetricsText(metrics_.registry()); }

  SimulatedClock clock_;
  ControlPlaneMetrics metrics_{&clock_};
};

TEST_F(ControlPlaneMetricsTest, CountsCallsPerServiceWithLatency) {
  metrics_.ServiceAdded("greet");
  EXPECT_THAT(Text(), HasSubstr("tether_calls_total{outcome=\"ok\",service="
                                "\"greet\"} 0\n"));
  const ControlPlaneMetrics::CallStart first = metrics_.CallStarted("greet");
  const ControlPlaneMetrics::CallStart second = metrics_.CallStarted("greet");
  EXPECT_THAT(Text(),
              HasSubstr("tether_calls_in_flight{service=\"greet\"} 2\n"));
  clock_.Advance(absl::Milliseconds(250));
  metrics_.CallFinished("greet", first, absl::StatusCode::kOk);
  metrics_.CallFinished("greet", second, absl::StatusCode::kUnavailable);

  const std::string text = Text();
  EXPECT_THAT(text, HasSubstr("tether_calls_total{outcome=\"ok\",service="
                              "\"greet\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_calls_total{outcome=\"unavailable\","
                              "service=\"greet\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_calls_in_flight{service=\"greet\"} 0\n"));
  EXPECT_THAT(
      text,
      HasSubstr("tether_call_duration_seconds_sum{service=\"greet\"} 0.5\n"));
  EXPECT_THAT(
      text,
      HasSubstr("tether_call_duration_seconds_count{service=\"greet\"} 2\n"));
}

TEST_F(ControlPlaneMetricsTest, UnknownServicesShareOneSeries) {
  for (const char* name : {"nope-1", "nope-2", "nope-3"}) {
    metrics_.CallFinished(name, metrics_.CallStarted(name),
                          absl::StatusCode::kNotFound);
  }
  const std::string text = Text();
  EXPECT_THAT(text, Not(HasSubstr("nope-")));
  EXPECT_THAT(text, HasSubstr("tether_calls_total{outcome=\"not_found\","
                              "service=\"\"} 3\n"));
}

TEST_F(ControlPlaneMetricsTest, ADeletedServiceLosesItsSeries) {
  metrics_.ServiceAdded("greet");
  metrics_.ServiceAdded("other");
  metrics_.CallFinished("greet", metrics_.CallStarted("greet"),
                        absl::StatusCode::kInternal);
  const ControlPlaneMetrics::CallStart straddling =
      metrics_.CallStarted("greet");
  metrics_.ServiceDeleted("greet");
  // A call in flight across the delete is dropped, not resurrecting it.
  metrics_.CallFinished("greet", straddling, absl::StatusCode::kOk);
  const std::string text = Text();
  EXPECT_THAT(text, Not(HasSubstr("service=\"greet\"")));
  EXPECT_THAT(text, HasSubstr("tether_calls_in_flight{service=\"other\"} 0\n"));
  // Deploying it again starts from zero.
  metrics_.ServiceAdded("greet");
  EXPECT_THAT(Text(), HasSubstr("tether_calls_total{outcome=\"ok\",service="
                                "\"greet\"} 0\n"));
}

TEST_F(ControlPlaneMetricsTest, CountsDeploysTtlWakeupsAgentsAndOtlp) {
  metrics_.DeployEnded(absl::OkStatus());
  metrics_.DeployEnded(absl::AbortedError("superseded"));
  metrics_.DeployEnded(absl::FailedPreconditionError("crash loop"));
  metrics_.DeployEnded(absl::UnavailableError("image pull"));
  metrics_.TtlAction("scale_to_zero");
  metrics_.TtlAction("scale_to_zero");
  metrics_.WakeEnded(true, absl::Seconds(4));
  metrics_.WakeEnded(false, absl::Seconds(2));
  metrics_.AgentAttached();
  metrics_.AgentAttached();
  metrics_.AgentDetached();
  metrics_.OtlpReport(true, 0);
  metrics_.OtlpReport(true, 3);
  metrics_.OtlpReport(false, 10);

  const std::string text = Text();
  EXPECT_THAT(text, HasSubstr("tether_deploys_total{outcome=\"ok\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_deploys_total{outcome=\"aborted\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_deploys_total{outcome=\"failed\"} 2\n"));
  EXPECT_THAT(
      text,
      HasSubstr("tether_ttl_actions_total{action=\"scale_to_zero\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("tether_ttl_actions_total{action=\"delete\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("tether_wakeups_total{outcome=\"ok\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_wakeups_total{outcome=\"failed\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_wake_duration_seconds_sum 6\n"));
  EXPECT_THAT(text, HasSubstr("tether_attached_agents 1\n"));
  EXPECT_THAT(text,
              HasSubstr("tether_otlp_reports_total{result=\"accepted\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("tether_otlp_reports_total{result=\"rejected\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_otlp_data_points_rejected_total 13\n"));
}

}  // namespace
}  // namespace tether::controlplane
