#include "controlplane/agent_sessions.h"

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "controlplane/fake_service_store.h"
#include "controlplane/recording_agent_connection.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

using tether::v1::ReplicaStatus;
using tether::v1::RevisionState;

class AgentSessionsTest : public ::testing::Test {
 protected:
  AgentSessionsTest() {
    ServiceRegistry::Options options;
    options.store = &store_;
    options.clock = &clock_;
    options.new_token = [] { return std::string("token"); };
    registry_ = std::make_unique<ServiceRegistry>(options);
    sessions_ = std::make_unique<AgentSessions>(registry_.get());
    tether::v1::ServiceSpec spec;
    spec.set_name("hello");
    service_ = *registry_->Record(spec, "rev-1");
    SyncReplicas(*service_, {"hello-0", "hello-1"});
  }

  uint64_t Attach(const std::string& replica,
                  RecordingAgentConnection* connection,
                  const std::string& serving = "") {
    tether::v1::AgentHello hello;
    hello.set_service("hello");
    hello.set_replica(replica);
    hello.set_invoke_address("127.0.0.1:1");
    hello.set_serving_revision(serving);
    return sessions_->Attach(service_->replicas[replica], hello, connection,
                             std::make_shared<AgentEndpoint>());
  }

  static RevisionState State(RevisionState::State state,
                             const std::string& revision, int64_t generation,
                             const std::string& error = "") {
    RevisionState answer;
    answer.set_state(state);
    answer.set_revision(revision);
    answer.set_generation(generation);
    answer.set_error(error);
    return answer;
  }

  SimulatedClock clock_{absl::FromUnixSeconds(1)};
  FakeServiceStore store_;
  std::unique_ptr<ServiceRegistry> registry_;
  std::unique_ptr<AgentSessions> sessions_;
  ServiceState* service_ = nullptr;
  RecordingAgentConnection connection_;
};

TEST_F(AgentSessionsTest, AttachBindsTheReplicaWhileItLoads) {
  const uint64_t session = Attach("hello-0", &connection_, "rev-0");
  EXPECT_NE(session, 0u);
  const ReplicaState& replica = service_->replicas["hello-0"];
  EXPECT_EQ(replica.session, session);
  EXPECT_EQ(replica.agent, &connection_);
  EXPECT_NE(replica.endpoint, nullptr);
  EXPECT_EQ(replica.status.address(), "127.0.0.1:1");
  EXPECT_EQ(replica.status.revision(), "rev-0");
  EXPECT_EQ(replica.status.phase(), ReplicaStatus::PHASE_LOADING);
  auto bound = sessions_->Find(session);
  ASSERT_TRUE(bound.has_value());
  EXPECT_EQ(bound->service, service_);
  EXPECT_EQ(*bound->replica_name, "hello-0");
  EXPECT_EQ(bound->replica, &service_->replicas["hello-0"]);
}

TEST_F(AgentSessionsTest, DetachLosesTheAgent) {
  const uint64_t session = Attach("hello-0", &connection_, "rev-0");
  EXPECT_EQ(sessions_->Detach(session), service_);
  const ReplicaState& replica = service_->replicas["hello-0"];
  EXPECT_EQ(replica.agent, nullptr);
  EXPECT_EQ(replica.endpoint, nullptr);
  EXPECT_EQ(replica.session, 0u);
  EXPECT_EQ(replica.status.phase(), ReplicaStatus::PHASE_LOST);
  EXPECT_TRUE(replica.status.revision().empty());
  EXPECT_FALSE(sessions_->Find(session).has_value());
  EXPECT_EQ(sessions_->Detach(session), nullptr);
}

TEST_F(AgentSessionsTest, ARedialedAgentReplacesItsOldSession) {
  const uint64_t old_session = Attach("hello-0", &connection_);
  RecordingAgentConnection redialed;
  const uint64_t session = Attach("hello-0", &redialed);
  EXPECT_NE(session, old_session);
  EXPECT_FALSE(sessions_->Find(old_session).has_value());
  // The old stream ends after the new one started: the replica keeps it.
  EXPECT_EQ(sessions_->Detach(old_session), nullptr);
  EXPECT_EQ(service_->replicas["hello-0"].agent, &redialed);
  EXPECT_TRUE(sessions_->Find(session).has_value());
}

TEST_F(AgentSessionsTest, AForgottenReplicasSessionEnds) {
  const uint64_t session = Attach("hello-0", &connection_);
  sessions_->Forget(service_->replicas["hello-0"]);
  EXPECT_FALSE(sessions_->Find(session).has_value());
}

TEST_F(AgentSessionsTest, SendLoadTellsTheAttachedAgentWhatToServe) {
  AgentSessions::SendLoad(*service_, service_->replicas["hello-0"]);
  EXPECT_TRUE(connection_.commands.empty());
  Attach("hello-0", &connection_);
  AgentSessions::SendLoad(*service_, service_->replicas["hello-0"]);
  ASSERT_EQ(connection_.commands.size(), 1u);
  const auto& load = connection_.commands[0].load();
  EXPECT_EQ(load.revision(), "rev-1");
  EXPECT_EQ(load.generation(), 1);
  EXPECT_EQ(load.spec().name(), "hello");
}

TEST_F(AgentSessionsTest, RevisionStatesSetTheReplicasPhase) {
  ReplicaState replica;
  AgentSessions::ApplyRevisionState(
      replica, State(RevisionState::STATE_FAILED, "rev-1", 1, "ImportError"));
  EXPECT_EQ(replica.status.phase(), ReplicaStatus::PHASE_FAILED);
  EXPECT_EQ(replica.status.message(), "ImportError");
  RevisionState ready = State(RevisionState::STATE_READY, "rev-1", 2);
  ready.set_python_version("3.11.2");
  AgentSessions::ApplyRevisionState(replica, ready);
  EXPECT_EQ(replica.status.phase(), ReplicaStatus::PHASE_READY);
  EXPECT_EQ(replica.status.revision(), "rev-1");
  EXPECT_EQ(replica.status.python_version(), "3.11.2");
  EXPECT_TRUE(replica.status.message().empty());
  EXPECT_EQ(replica.ready_generation, 2);
  // The old workers keep serving rev-1.
  AgentSessions::ApplyRevisionState(
      replica, State(RevisionState::STATE_FAILED, "rev-2", 3, "MemoryError"));
  EXPECT_EQ(replica.status.phase(), ReplicaStatus::PHASE_READY);
  EXPECT_EQ(replica.status.message(), "MemoryError");
  AgentSessions::ApplyRevisionState(
      replica, State(RevisionState::STATE_LOADING, "rev-3", 4));
  EXPECT_EQ(replica.ready_generation, 2);
}

TEST_F(AgentSessionsTest, ACodeOnlyDeployGoesBackToTheLastGoodRevision) {
  service_->last_good_revision = "rev-0";
  service_->last_good_spec = service_->record.spec();
  RecordingAgentConnection other;
  Attach("hello-0", &connection_);
  Attach("hello-1", &other);
  // hello-0 switched to rev-1; hello-1 failed to.
  service_->replicas["hello-0"].ready_generation = 1;
  ASSERT_TRUE(sessions_->RollBack(*service_, "hello-1"));
  EXPECT_EQ(service_->record.revision(), "rev-0");
  EXPECT_EQ(service_->record.generation(), 2);
  EXPECT_EQ((*store_.LoadAll())[0].revision(), "rev-0");
  ASSERT_EQ(connection_.commands.size(), 1u);
  ASSERT_EQ(other.commands.size(), 1u);
  EXPECT_EQ(other.commands[0].load().revision(), "rev-0");
  EXPECT_EQ(other.commands[0].load().generation(), 2);
}

TEST_F(AgentSessionsTest, NoRollBackWithoutAGoodRevisionOrAfterASpecChange) {
  Attach("hello-0", &connection_);
  service_->replicas["hello-0"].ready_generation = 1;
  // Nothing was ever good.
  EXPECT_FALSE(sessions_->RollBack(*service_, "hello-1"));
  service_->last_good_revision = "rev-0";
  service_->last_good_spec = service_->record.spec();
  // Nobody else switched.
  EXPECT_FALSE(sessions_->RollBack(*service_, "hello-0"));
  service_->last_good_spec.mutable_compute()->set_replicas(3);
  EXPECT_FALSE(sessions_->RollBack(*service_, "hello-1"));
  EXPECT_EQ(service_->record.revision(), "rev-1");
  EXPECT_TRUE(connection_.commands.empty());
}

}  // namespace
}  // namespace tether::controlplane
