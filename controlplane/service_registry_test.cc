#include "controlplane/service_registry.h"

#include <string>
#include <vector>

#include "common/clock.h"
#include "controlplane/fake_service_store.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

using tether::v1::ReplicaStatus;
using tether::v1::ServiceStatus;

tether::v1::ServiceSpec Spec(const std::string& name = "hello") {
  tether::v1::ServiceSpec spec;
  spec.set_name(name);
  return spec;
}

class ServiceRegistryTest : public ::testing::Test {
 protected:
  ServiceRegistry::Options Options() {
    ServiceRegistry::Options options;
    options.store = &store_;
    options.clock = &clock_;
    options.new_token = [this] { return "token-" + std::to_string(++tokens_); };
    return options;
  }

  FakeServiceStore store_;
  SimulatedClock clock_{absl::FromUnixSeconds(100)};
  int tokens_ = 0;
  ServiceRegistry registry_{Options()};
};

TEST_F(ServiceRegistryTest, ANewServiceGetsATokenAndIsStored) {
  auto service = registry_.Record(Spec(), "rev-1");
  ASSERT_TRUE(service.ok()) << service.status();
  const ServiceStatus& record = (*service)->record;
  EXPECT_EQ(record.name(), "hello");
  EXPECT_EQ(record.revision(), "rev-1");
  EXPECT_EQ(record.token(), "token-1");
  EXPECT_EQ(record.generation(), 1);
  EXPECT_EQ(record.phase(), ServiceStatus::PHASE_DEPLOYING);
  EXPECT_EQ(record.created().seconds(), 100);
  auto stored = store_.LoadAll();
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].token(), "token-1");
  EXPECT_EQ(registry_.Find("hello"), *service);
}

TEST_F(ServiceRegistryTest, ARedeployKeepsTheTokenAndBumpsTheGeneration) {
  ServiceState* first = *registry_.Record(Spec(), "rev-1");
  first->record.set_phase(ServiceStatus::PHASE_FAILED);
  first->record.set_message("it broke");
  clock_.Advance(absl::Seconds(5));
  ServiceState* second = *registry_.Record(Spec(), "rev-2");
  EXPECT_EQ(second, first);
  EXPECT_EQ(second->record.token(), "token-1");
  EXPECT_EQ(second->record.generation(), 2);
  EXPECT_EQ(second->record.revision(), "rev-2");
  EXPECT_EQ(second->record.phase(), ServiceStatus::PHASE_DEPLOYING);
  EXPECT_TRUE(second->record.message().empty());
  EXPECT_EQ(second->record.created().seconds(), 100);
  EXPECT_EQ(second->record.updated().seconds(), 105);
}

TEST_F(ServiceRegistryTest, AFrozenServiceKeepsItsCode) {
  tether::v1::ServiceSpec frozen = Spec();
  frozen.mutable_compute()->set_freeze(true);
  ASSERT_TRUE(registry_.Record(frozen, "rev-1").ok());
  EXPECT_EQ(registry_.Record(frozen, "rev-2").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(registry_.Find("hello")->record.revision(), "rev-1");
  // Same code, new settings: fine.
  EXPECT_TRUE(registry_.Record(frozen, "rev-1").ok());
}

TEST_F(ServiceRegistryTest, AFailedWriteChangesNothing) {
  ASSERT_TRUE(registry_.Record(Spec(), "rev-1").ok());
  store_.set_fail_writes(true);
  EXPECT_FALSE(registry_.Record(Spec(), "rev-2").ok());
  EXPECT_FALSE(registry_.Record(Spec("other"), "rev-2").ok());
  EXPECT_EQ(registry_.Find("hello")->record.generation(), 1);
  EXPECT_EQ(registry_.Find("other"), nullptr);
  EXPECT_EQ(registry_.Remove("hello").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_NE(registry_.Find("hello"), nullptr);
}

TEST_F(ServiceRegistryTest, RemoveForgetsTheServiceEverywhere) {
  ServiceState* service = *registry_.Record(Spec(), "rev-1");
  service->replicas["hello-0"].session = 7;
  auto removed = registry_.Remove("hello");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->replicas.at("hello-0").session, 7u);
  EXPECT_EQ(registry_.Find("hello"), nullptr);
  EXPECT_TRUE(store_.LoadAll()->empty());
  EXPECT_EQ(registry_.Remove("hello").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ServiceRegistryTest, LoadBringsBackStoredRecords) {
  ASSERT_TRUE(registry_.Record(Spec("a"), "rev-1").ok());
  ASSERT_TRUE(registry_.Record(Spec("b"), "rev-2").ok());
  ServiceRegistry restarted(Options());
  auto names = restarted.Load();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(restarted.Find("b")->record.revision(), "rev-2");
  ASSERT_NE(restarted.ServiceForToken("token-2"), nullptr);
  EXPECT_EQ(*restarted.ServiceForToken("token-2"), "b");
}

TEST_F(ServiceRegistryTest, RemoveForgetsTheToken) {
  ASSERT_TRUE(registry_.Record(Spec(), "rev-1").ok());
  ASSERT_TRUE(registry_.Remove("hello").ok());
  EXPECT_EQ(registry_.ServiceForToken("token-1"), nullptr);
}

TEST_F(ServiceRegistryTest, ADeployClearsTheScale) {
  ServiceState* service = *registry_.Record(Spec(), "rev-1");
  tether::v1::ServiceStatus record = service->record;
  record.set_scale(0);
  ASSERT_TRUE(registry_.Update(*service, record).ok());
  EXPECT_EQ(RunningReplicas(service->record), 0);
  service = *registry_.Record(Spec(), "rev-2");
  EXPECT_FALSE(service->record.has_scale());
  EXPECT_EQ(RunningReplicas(service->record), 1);
}

TEST_F(ServiceRegistryTest, TokensAndLiveRevisions) {
  ServiceState* service = *registry_.Record(Spec(), "rev-2");
  service->replicas["hello-0"].status.set_revision("rev-1");
  service->replicas["hello-1"];  // No revision yet.
  ASSERT_NE(registry_.ServiceForToken("token-1"), nullptr);
  EXPECT_EQ(*registry_.ServiceForToken("token-1"), "hello");
  EXPECT_EQ(registry_.ServiceForToken("token-9"), nullptr);
  EXPECT_EQ(registry_.ServiceForToken(""), nullptr);
  EXPECT_EQ(registry_.LiveRevisions(),
            (absl::flat_hash_set<std::string>{"rev-1", "rev-2"}));
}

TEST(SyncReplicasTest, NewReplicasStartAndKnownOnesKeepTheirState) {
  ServiceState service;
  service.replicas["hello-0"].status.set_name("hello-0");
  service.replicas["hello-0"].status.set_phase(ReplicaStatus::PHASE_READY);
  SyncReplicas(service, {"hello-0", "hello-1"});
  EXPECT_EQ(service.order, (std::vector<std::string>{"hello-0", "hello-1"}));
  EXPECT_EQ(service.replicas["hello-0"].status.phase(),
            ReplicaStatus::PHASE_READY);
  EXPECT_EQ(service.replicas["hello-1"].status.name(), "hello-1");
  EXPECT_EQ(service.replicas["hello-1"].status.phase(),
            ReplicaStatus::PHASE_STARTING);
}

TEST(StatusOfTest, AReadyServiceWithAReplicaNotReadyIsDegraded) {
  ServiceState service;
  service.record.set_phase(ServiceStatus::PHASE_READY);
  SyncReplicas(service, {"hello-1", "hello-0"});
  service.replicas["hello-0"].status.set_phase(ReplicaStatus::PHASE_READY);
  service.replicas["hello-1"].status.set_phase(ReplicaStatus::PHASE_READY);
  ServiceStatus status = StatusOf(service);
  EXPECT_EQ(status.phase(), ServiceStatus::PHASE_READY);
  ASSERT_EQ(status.replicas_size(), 2);
  EXPECT_EQ(status.replicas(0).name(), "hello-1");
  service.replicas["hello-1"].status.set_phase(ReplicaStatus::PHASE_LOST);
  EXPECT_EQ(StatusOf(service).phase(), ServiceStatus::PHASE_DEGRADED);
  // No replica at all is not ready either.
  service.order.clear();
  EXPECT_EQ(StatusOf(service).phase(), ServiceStatus::PHASE_DEGRADED);
  // A deploying service says so, whatever its replicas do.
  service.record.set_phase(ServiceStatus::PHASE_DEPLOYING);
  EXPECT_EQ(StatusOf(service).phase(), ServiceStatus::PHASE_DEPLOYING);
}

}  // namespace
}  // namespace tether::controlplane
