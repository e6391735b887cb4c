#include "controlplane/routes.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

using tether::v1::ServiceStatus;

// A replica whose agent is attached at `address` and serves `revision`.
ReplicaState Attached(const std::string& name, const std::string& revision) {
  ReplicaState replica;
  replica.status.set_name(name);
  replica.status.set_revision(revision);
  replica.endpoint = std::make_shared<AgentEndpoint>();
  replica.endpoint->replica = name;
  return replica;
}

ServiceState Service(ServiceStatus::Phase phase) {
  ServiceState service;
  service.record.set_name("hello");
  service.record.set_token("secret");
  service.record.set_phase(phase);
  return service;
}

TEST(BuildRouteTest, CarriesTheTokenAndTheAllowedCodecs) {
  ServiceState service = Service(ServiceStatus::PHASE_READY);
  auto* compute = service.record.mutable_spec()->mutable_compute();
  compute->add_allowed_serialization(tether::v1::CODEC_JSON);
  compute->add_allowed_serialization(tether::v1::CODEC_PICKLE);
  const auto route = BuildRoute(service);
  EXPECT_EQ(route->service, "hello");
  EXPECT_EQ(route->token, "secret");
  EXPECT_EQ(route->allowed_codecs,
            (std::vector<tether::v1::Codec>{tether::v1::CODEC_JSON,
                                            tether::v1::CODEC_PICKLE}));
  EXPECT_TRUE(route->not_ready_reason.empty());
}

TEST(BuildRouteTest, ReadyAreAttachedReplicasServingARevisionInOrder) {
  ServiceState service = Service(ServiceStatus::PHASE_READY);
  service.order = {"hello-1", "hello-0", "hello-2", "hello-3"};
  service.replicas["hello-0"] = Attached("hello-0", "rev-old");
  service.replicas["hello-1"] = Attached("hello-1", "rev-new");
  // Attached, still loading its first revision.
  service.replicas["hello-2"] = Attached("hello-2", "");
  // Known to the backend, no agent yet.
  service.replicas["hello-3"].status.set_revision("rev-new");
  // Not reported by the backend (any more).
  service.replicas["hello-9"] = Attached("hello-9", "rev-new");
  const auto route = BuildRoute(service);
  ASSERT_EQ(route->ready.size(), 2u);
  EXPECT_EQ(route->ready[0]->replica, "hello-1");
  EXPECT_EQ(route->ready[1]->replica, "hello-0");
  EXPECT_EQ(route->ready[0], service.replicas["hello-1"].endpoint);
}

TEST(BuildRouteTest, SaysWhyNothingMayBeReady) {
  EXPECT_EQ(
      BuildRoute(Service(ServiceStatus::PHASE_DEPLOYING))->not_ready_reason,
      "deploying");
  ServiceState failed = Service(ServiceStatus::PHASE_FAILED);
  failed.record.set_message("ModuleNotFoundError");
  EXPECT_EQ(BuildRoute(failed)->not_ready_reason,
            "last deploy failed: ModuleNotFoundError");
}

// The router's answer to a call on `service`, which has no ready replica.
absl::Status CallStatus(CallRouter& router, const std::string& service) {
  tether::v1::CallRequest request;
  request.set_service(service);
  tether::v1::CallResponse response;
  absl::Status result = absl::UnknownError("not called back");
  router.Call(request, &response, absl::Now() + absl::Seconds(1),
              [&result](absl::Status status) { result = std::move(status); });
  return result;
}

TEST(RoutePublisherTest, PublishesAndRemovesRoutes) {
  CallRouter router{CallRouter::Options()};
  RoutePublisher publisher(&router);
  ServiceState service = Service(ServiceStatus::PHASE_DEPLOYING);
  service.record.mutable_spec()->mutable_compute()->add_allowed_serialization(
      tether::v1::CODEC_JSON);
  publisher.OnServiceChanged(service);
  const absl::Status deploying = CallStatus(router, "hello");
  EXPECT_EQ(deploying.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(deploying.message(), "(deploying)"))
      << deploying;
  publisher.OnServiceRemoved("hello");
  EXPECT_EQ(CallStatus(router, "hello").code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tether::controlplane
