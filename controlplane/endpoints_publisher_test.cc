#include "controlplane/endpoints_publisher.h"

#include <memory>
#include <string>
#include <vector>

#include "controlplane/call_router.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

using tether::v1::ServiceStatus;

class RecordingWatcher final : public EndpointsWatcher {
 public:
  void OnEndpoints(
      std::shared_ptr<const tether::v1::Endpoints> endpoints) override {
    seen.push_back(*endpoints);
  }
  void OnRemoved() override { removed = true; }

  std::vector<tether::v1::Endpoints> seen;
  bool removed = false;
};

// "hello" with `ready` routable replicas out of two.
ServiceState Service(int ready,
                     ServiceStatus::Phase phase = ServiceStatus::PHASE_READY) {
  ServiceState state;
  state.record.set_name("hello");
  state.record.set_token("tok");
  state.record.set_phase(phase);
  state.record.mutable_spec()->mutable_compute()->add_allowed_serialization(
      tether::v1::CODEC_JSON);
  state.order = {"hello-0", "hello-1"};
  for (int i = 0; i < 2; ++i) {
    ReplicaState& replica = state.replicas[state.order[i]];
    replica.status.set_name(state.order[i]);
    if (i < ready) {
      replica.endpoint = std::make_shared<AgentEndpoint>();
      replica.endpoint->replica = state.order[i];
      replica.endpoint->address = "10.0.0." + std::to_string(i + 1) + ":7701";
      replica.status.set_revision("rev-1");
      replica.status.set_python_version("3.11.2");
    }
  }
  return state;
}

TEST(BuildEndpointsTest, ListsRoutableReplicasInOrderWithTheToken) {
  const tether::v1::Endpoints endpoints = BuildEndpoints(Service(2));
  EXPECT_EQ(endpoints.service(), "hello");
  EXPECT_EQ(endpoints.token(), "tok");
  ASSERT_EQ(endpoints.endpoints_size(), 2);
  EXPECT_EQ(endpoints.endpoints(0).replica(), "hello-0");
  EXPECT_EQ(endpoints.endpoints(1).address(), "10.0.0.2:7701");
  EXPECT_EQ(endpoints.endpoints(1).revision(), "rev-1");
  EXPECT_EQ(endpoints.endpoints(1).python_version(), "3.11.2");
  EXPECT_EQ(endpoints.allowed_codecs_size(), 1);
  EXPECT_FALSE(endpoints.idle());
  EXPECT_EQ(endpoints.not_ready_reason(), "");
}

TEST(BuildEndpointsTest, SaysWhyNothingIsReady) {
  ServiceState parked = Service(0, ServiceStatus::PHASE_IDLE);
  parked.record.set_scale(0);
  const tether::v1::Endpoints idle = BuildEndpoints(parked);
  EXPECT_TRUE(idle.idle());
  EXPECT_EQ(idle.not_ready_reason(),
            "scaled to zero; a call through tetherd wakes it");
  EXPECT_EQ(BuildEndpoints(Service(0, ServiceStatus::PHASE_DEPLOYING))
                .not_ready_reason(),
            "deploying");
  EXPECT_EQ(BuildEndpoints(Service(0)).not_ready_reason(),
            "no replica is ready");
}

TEST(EndpointsPublisherTest, WatchersGetTheCurrentEndpointsThenChanges) {
  EndpointsPublisher publisher;
  RecordingWatcher watcher;
  EXPECT_EQ(publisher.Watch("hello", &watcher).status().code(),
            absl::StatusCode::kNotFound);
  publisher.OnServiceChanged(Service(1));
  auto id = publisher.Watch("hello", &watcher);
  ASSERT_TRUE(id.ok());
  ASSERT_EQ(watcher.seen.size(), 1u);
  EXPECT_EQ(watcher.seen[0].endpoints_size(), 1);

  publisher.OnServiceChanged(Service(2));
  ASSERT_EQ(watcher.seen.size(), 2u);
  EXPECT_EQ(watcher.seen[1].endpoints_size(), 2);
  // A change clients cannot see is not pushed.
  publisher.OnServiceChanged(Service(2, ServiceStatus::PHASE_DEGRADED));
  EXPECT_EQ(watcher.seen.size(), 2u);

  publisher.Unwatch(*id);
  publisher.OnServiceChanged(Service(0));
  EXPECT_EQ(watcher.seen.size(), 2u);
}

TEST(EndpointsPublisherTest, DeletingTheServiceEndsItsWatches) {
  EndpointsPublisher publisher;
  publisher.OnServiceChanged(Service(1));
  RecordingWatcher watcher;
  auto id = publisher.Watch("hello", &watcher);
  ASSERT_TRUE(id.ok());
  publisher.OnServiceRemoved("hello");
  EXPECT_TRUE(watcher.removed);
  publisher.Unwatch(*id);  // Harmless after the removal.
  EXPECT_EQ(publisher.Watch("hello", &watcher).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tether::controlplane
