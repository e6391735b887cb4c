#include "controlplane/metrics_listener.h"

#include <string>

#include "common/metrics_text.h"
#include "controlplane/control_plane_metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsListenerTest, FollowsServicesAndDeploys) {
  ControlPlaneMetrics metrics;
  MetricsListener listener(&metrics);
  ServiceState service;
  service.record.set_name("greet");
  listener.OnServiceChanged(service);
  listener.OnServiceChanged(service);
  listener.OnDeployEnded("greet", absl::OkStatus());
  std::string text = MetricsText(metrics.registry());
  EXPECT_THAT(text, HasSubstr("tether_calls_in_flight{service=\"greet\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("tether_deploys_total{outcome=\"ok\"} 1\n"));

  listener.OnServiceRemoved("greet");
  EXPECT_THAT(MetricsText(metrics.registry()),
              Not(HasSubstr("service=\"greet\"")));
}

}  // namespace
}  // namespace tether::controlplane
