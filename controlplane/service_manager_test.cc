#include "controlplane/service_manager.h"

#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/revision_id.h"
#include "controlplane/call_router.h"
#include "controlplane/code/fake_code_store.h"
#include "controlplane/fake_backend.h"
#include "controlplane/fake_service_store.h"
#include "controlplane/recording_agent_connection.h"
#include "gtest/gtest.h"
#include "sync/tree.h"

namespace tether::controlplane {
namespace {

using tether::v1::DeployEvent;
using tether::v1::RevisionState;
using tether::v1::ServiceStatus;

class RecordingObserver final : public DeployObserver {
 public:
  void OnEvent(const DeployEvent& event) override {
    stages.push_back(event.stage());
  }
  void OnDone(const absl::Status& status) override {
    done = true;
    final_status = status;
  }
  std::vector<DeployEvent::Stage> stages;
  bool done = false;
  absl::Status final_status;
};

class ServiceManagerTest : public ::testing::Test {
 protected:
  ServiceManagerTest() : router_(CallRouter::Options()) {
    manager_ = NewManager();
    revision_ = AddRevision("print('hi')");
  }

  // A manager over the fixture's backend and stores (as after a restart),
  // making `token` for new services.
  std::unique_ptr<ServiceManager> NewManager(std::string token = "token-1") {
    ServiceManager::Options options;
    options.backend = &backend_;
    options.store = &store_;
    options.code_store = &code_;
    options.router = &router_;
    options.new_token = [token] { return token; };
    // Applies run inline, so each step of a test sees their effect.
    options.run_apply = [](std::function<void()> apply) { apply(); };
    return *ServiceManager::Create(options);
  }

  std::string AddRevision(const std::string& contents) {
    tether::v1::Tree tree;
    auto* entry = tree.add_entries();
    entry->set_path("hello.py");
    entry->set_kind(tether::v1::TreeEntry::KIND_FILE);
    entry->set_mode(0644);
    entry->set_size(contents.size());
    entry->set_sha256(code_.AddBlobForTest(contents));
    std::string id = sync::TreeId(tree);
    EXPECT_TRUE(code_.PutTree(id, tree).ok());
    return id;
  }

  tether::v1::DeployRequest Request(const std::string& name = "hello",
                                    int replicas = 1) {
    tether::v1::DeployRequest request;
    request.set_revision(revision_);
    request.mutable_spec()->set_name(name);
    request.mutable_spec()->mutable_compute()->set_replicas(replicas);
    request.mutable_spec()->mutable_callable()->set_module("hello");
    request.mutable_spec()->mutable_callable()->set_name("greet");
    return request;
  }

  // Plays an agent: attaches and answers the load it was sent.
  uint64_t AttachAndAnswer(const std::string& replica,
                           RevisionState::State state,
                           const std::string& error = "") {
    tether::v1::AgentHello hello;
    hello.set_service("hello");
    hello.set_replica(replica);
    hello.set_invoke_address("127.0.0.1:1");
    auto session = manager_->AttachAgent(hello, "token-1", &connection_);
    EXPECT_TRUE(session.ok()) << session.status();
    EXPECT_FALSE(connection_.commands.empty());
    const auto& load = connection_.commands.back().load();
    RevisionState answer;
    answer.set_revision(load.revision());
    answer.set_generation(load.generation());
    answer.set_state(state);
    answer.set_error(error);
    manager_->OnRevisionState(*session, answer);
    return *session;
  }

  // Deletes `name` and waits until the manager's executor is done with it.
  absl::Status Delete(const std::string& name) {
    absl::Notification done;
    absl::Status result;
    manager_->DeleteService(name, [&](absl::Status status) {
      result = std::move(status);
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  }

  FakeBackend backend_;
  FakeServiceStore store_;
  FakeCodeStore code_;
  CallRouter router_;
  std::unique_ptr<ServiceManager> manager_;
  std::string revision_;
  RecordingObserver observer_;
  RecordingAgentConnection connection_;
};

TEST_F(ServiceManagerTest, DeployRunsUntilEveryReplicaIsReady) {
  ASSERT_TRUE(manager_->StartDeploy(Request("hello", 2), &observer_).ok());
  EXPECT_EQ(observer_.stages,
            (std::vector<DeployEvent::Stage>{DeployEvent::STAGE_ACCEPTED,
                                             DeployEvent::STAGE_APPLIED}));
  EXPECT_EQ(backend_.token("hello"), "token-1");
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  EXPECT_FALSE(observer_.done);
  AttachAndAnswer("hello-1", RevisionState::STATE_READY);
  ASSERT_TRUE(observer_.done);
  EXPECT_TRUE(observer_.final_status.ok()) << observer_.final_status;
  EXPECT_EQ(observer_.stages.back(), DeployEvent::STAGE_READY);

  auto status = manager_->GetService("hello");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->phase(), ServiceStatus::PHASE_READY);
  EXPECT_EQ(status->replicas_size(), 2);
  EXPECT_EQ(status->replicas(1).revision(), revision_);
  // Defaults were filled in and persisted.
  auto records = store_.LoadAll();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].phase(), ServiceStatus::PHASE_READY);
  EXPECT_EQ((*records)[0].spec().compute().workers(), 1);
}

TEST_F(ServiceManagerTest, LiveRevisionsIncludeWhatReplicasStillServe) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  const std::string first = revision_;
  revision_ = AddRevision("print('v2')");
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  // hello-0 has not loaded the new revision yet.
  EXPECT_EQ(manager_->LiveRevisions(),
            (absl::flat_hash_set<std::string>{first, revision_}));
}

TEST_F(ServiceManagerTest, ImportErrorFailsTheDeployWithItsText) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  AttachAndAnswer("hello-0", RevisionState::STATE_FAILED,
                  "ModuleNotFoundError: No module named 'nope'");
  ASSERT_TRUE(observer_.done);
  EXPECT_EQ(observer_.final_status.code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(observer_.final_status.message().find("No module named 'nope'"),
            std::string::npos);
  EXPECT_EQ(manager_->GetService("hello")->phase(),
            ServiceStatus::PHASE_FAILED);
}

TEST_F(ServiceManagerTest, BadRequestsChangeNothing) {
  auto bad_name = Request("Bad_Name");
  EXPECT_EQ(manager_->StartDeploy(bad_name, &observer_).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto unknown_revision = Request();
  unknown_revision.set_revision(std::string(64, 'a'));
  EXPECT_EQ(manager_->StartDeploy(unknown_revision, &observer_).status().code(),
            absl::StatusCode::kNotFound);
  auto negative = Request();
  negative.mutable_spec()->mutable_compute()->set_memory("-1Gi");
  EXPECT_EQ(manager_->StartDeploy(negative, &observer_).status().code(),
            absl::StatusCode::kInvalidArgument);
  store_.set_fail_writes(true);
  EXPECT_FALSE(manager_->StartDeploy(Request(), &observer_).ok());
  EXPECT_TRUE(manager_->ListServices().empty());
  EXPECT_TRUE(backend_.applied().empty());
  EXPECT_TRUE(observer_.stages.empty());
}

TEST_F(ServiceManagerTest, ASpecTheBackendCannotRunIsNotRecorded) {
  backend_.set_invalid(
      absl::InvalidArgumentError("compute.image: required on Kubernetes"));
  const auto started = manager_->StartDeploy(Request(), &observer_);
  EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::IsNotFound(manager_->GetService("hello").status()));
  EXPECT_TRUE(store_.LoadAll()->empty());
  EXPECT_TRUE(backend_.applied().empty());
}

TEST_F(ServiceManagerTest, AgentsNeedTheServiceToken) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  tether::v1::AgentHello hello;
  hello.set_service("hello");
  hello.set_replica("hello-0");
  EXPECT_EQ(manager_->AttachAgent(hello, "wrong", &connection_).status().code(),
            absl::StatusCode::kUnauthenticated);
  // An unknown service answers as a wrong token does: names cannot be
  // probed.
  hello.set_service("nope");
  const absl::Status unknown =
      manager_->AttachAgent(hello, "wrong", &connection_).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(
      manager_->AttachAgent(hello, "token-1", &connection_).status().code(),
      absl::StatusCode::kUnauthenticated);
  hello.set_service("hello");
  hello.set_replica("hello-7");
  EXPECT_EQ(
      manager_->AttachAgent(hello, "token-1", &connection_).status().code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(manager_->ServiceForAgentToken("token-1"), "hello");
  EXPECT_FALSE(manager_->ServiceForAgentToken("").has_value());
}

TEST_F(ServiceManagerTest, AgentsPullOnlyTheirOwnServicesRevisions) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  EXPECT_TRUE(manager_->CheckAgentPull("token-1", revision_).ok());
  const std::string other = std::string(64, 'e');
  EXPECT_EQ(manager_->CheckAgentPull("token-1", other).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(manager_->CheckAgentPull("wrong", revision_).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(ServiceManagerTest, CrashLoopFailsTheDeploy) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  for (int i = 0; i < 3; ++i) {
    manager_->OnReplicaExited(
        "hello", "hello-0",
        {ReplicaExit::Cause::kCrashed, "hello-0 exited (code 1)", true});
  }
  ASSERT_TRUE(observer_.done);
  EXPECT_EQ(observer_.final_status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager_->GetService("hello")->replicas(0).restarts(), 3);
}

TEST_F(ServiceManagerTest, ReplicasThatAppearAfterTheApplyAreAwaited) {
  backend_.set_replicas_appear_later(true);
  ASSERT_TRUE(manager_->StartDeploy(Request("hello", 2), &observer_).ok());
  backend_.set_replicas("hello", {"hello-abc"});
  manager_->OnReplicaStarted("hello", "hello-abc");
  manager_->OnReplicaPending("hello", "hello-abc", "pulling image");
  EXPECT_EQ(observer_.stages.back(), DeployEvent::STAGE_REPLICA_PENDING);
  AttachAndAnswer("hello-abc", RevisionState::STATE_READY);
  EXPECT_FALSE(observer_.done) << "one of two replicas is ready";

  // The second pod's agent dials in before the backend reported the pod.
  backend_.set_replicas("hello", {"hello-abc", "hello-def"});
  AttachAndAnswer("hello-def", RevisionState::STATE_READY);
  ASSERT_TRUE(observer_.done);
  EXPECT_TRUE(observer_.final_status.ok()) << observer_.final_status;

  // A pod that goes away is forgotten.
  backend_.set_replicas("hello", {"hello-def"});
  manager_->OnReplicaExited(
      "hello", "hello-abc",
      {ReplicaExit::Cause::kPodRemoved, "pod deleted", false});
  EXPECT_EQ(manager_->GetService("hello")->replicas_size(), 1);
}

TEST_F(ServiceManagerTest, AStuckReplicaFailsTheDeployWithTheClustersWords) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  manager_->OnReplicaFailing(
      "hello", "hello-0",
      "container tether: ImagePullBackOff: pull access denied for nope");
  ASSERT_TRUE(observer_.done);
  EXPECT_EQ(observer_.final_status.code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(observer_.final_status.message(),
            "replica hello-0: container tether: ImagePullBackOff: pull access "
            "denied for nope");
  auto status = manager_->GetService("hello");
  EXPECT_EQ(status->phase(), ServiceStatus::PHASE_FAILED);
  EXPECT_EQ(status->replicas(0).message(),
            "container tether: ImagePullBackOff: pull access denied for nope");

  // The image gets pushed; the cluster, still trying, starts the pod.
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  EXPECT_EQ(manager_->GetService("hello")->phase(), ServiceStatus::PHASE_READY);
  EXPECT_EQ((*store_.LoadAll())[0].phase(), ServiceStatus::PHASE_READY);
}

TEST_F(ServiceManagerTest, ACodeDeployOneReplicaCannotLoadGoesBackEverywhere) {
  ASSERT_TRUE(manager_->StartDeploy(Request("hello", 2), &observer_).ok());
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  AttachAndAnswer("hello-1", RevisionState::STATE_READY);
  ASSERT_TRUE(observer_.final_status.ok());
  const std::string good = revision_;

  // New code: hello-0 loads it, hello-1 cannot (say, out of memory).
  revision_ = AddRevision("print('v2')");
  RecordingObserver second;
  ASSERT_TRUE(manager_->StartDeploy(Request("hello", 2), &second).ok());
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  AttachAndAnswer("hello-1", RevisionState::STATE_FAILED, "MemoryError");
  ASSERT_TRUE(second.done);
  EXPECT_EQ(second.final_status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.final_status.message().find(
                "every replica goes back to revision " + ShortRevision(good)),
            std::string::npos)
      << second.final_status;

  // Both were told to load the good revision again, at a new generation.
  const auto& rollback = connection_.commands.back().load();
  EXPECT_EQ(rollback.revision(), good);
  EXPECT_EQ(rollback.generation(), 3);
  auto status = manager_->GetService("hello");
  EXPECT_EQ(status->revision(), good);
  EXPECT_EQ(status->phase(), ServiceStatus::PHASE_FAILED);

  // Once both serve it, the service is whole again on the good revision.
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  AttachAndAnswer("hello-1", RevisionState::STATE_READY);
  status = manager_->GetService("hello");
  EXPECT_EQ(status->phase(), ServiceStatus::PHASE_READY);
  EXPECT_EQ(status->replicas(0).revision(), good);
  EXPECT_EQ(status->replicas(1).revision(), good);
}

TEST_F(ServiceManagerTest, ASpecChangeThatFailsIsNotRolledBack) {
  ASSERT_TRUE(manager_->StartDeploy(Request("hello", 2), &observer_).ok());
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  AttachAndAnswer("hello-1", RevisionState::STATE_READY);
  revision_ = AddRevision("print('v2')");
  tether::v1::DeployRequest request = Request("hello", 2);
  (*request.mutable_spec()->mutable_compute()->mutable_env())["MODE"] = "new";
  RecordingObserver second;
  ASSERT_TRUE(manager_->StartDeploy(request, &second).ok());
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  AttachAndAnswer("hello-1", RevisionState::STATE_FAILED, "MemoryError");
  ASSERT_TRUE(second.done);
  EXPECT_EQ(second.final_status.message().find("goes back"), std::string::npos);
  EXPECT_EQ(manager_->GetService("hello")->revision(), revision_);
}

TEST_F(ServiceManagerTest, FrozenServiceRefusesNewCode) {
  auto request = Request();
  request.mutable_spec()->mutable_compute()->set_freeze(true);
  ASSERT_TRUE(manager_->StartDeploy(request, &observer_).ok());
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  request.set_revision(AddRevision("print('changed')"));
  RecordingObserver second;
  EXPECT_EQ(manager_->StartDeploy(request, &second).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(manager_->GetService("hello")->revision(), revision_);
}

TEST_F(ServiceManagerTest, RedeploySupersedesARunningDeploy) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  RecordingObserver second;
  ASSERT_TRUE(manager_->StartDeploy(Request(), &second).ok());
  ASSERT_TRUE(observer_.done);
  EXPECT_EQ(observer_.final_status.code(), absl::StatusCode::kAborted);
  // The store keeps the newer record, not the superseded one.
  EXPECT_EQ((*store_.LoadAll())[0].generation(), 2);
  EXPECT_EQ((*store_.LoadAll())[0].phase(), ServiceStatus::PHASE_DEPLOYING);
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  EXPECT_TRUE(second.done);
  EXPECT_TRUE(second.final_status.ok());
  EXPECT_EQ(manager_->GetService("hello")->generation(), 2);
}

TEST_F(ServiceManagerTest, RecoverReloadsRecordsAndReappliesThem) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);

  // A new manager over the same store: what a restarted tetherd does.
  auto restarted = NewManager("token-2");
  ASSERT_TRUE(restarted->Recover().ok());
  EXPECT_EQ(backend_.applied().size(), 2u);
  auto status = restarted->GetService("hello");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->revision(), revision_);
  EXPECT_EQ(status->token(), "token-1");
}

TEST_F(ServiceManagerTest, ARecordAlwaysHasANamespaceAndKeepsIt) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  EXPECT_EQ(manager_->NamespaceOf("hello"), "default");
  EXPECT_EQ(store_.LoadAll()->at(0).spec().namespace_(), "default");
  EXPECT_EQ(manager_->NamespaceOf("other"), std::nullopt);

  tether::v1::DeployRequest moved = Request();
  moved.mutable_spec()->set_namespace_("team-b");
  const absl::Status refused =
      manager_->StartDeploy(moved, &observer_).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(refused.message(),
            "namespace: service hello already exists in namespace default; "
            "service names are unique across tetherd, so delete it there or "
            "pick another name");
  EXPECT_EQ(store_.LoadAll()->at(0).generation(), 1);

  // A record stored before namespaces gets the default when loaded.
  tether::v1::ServiceStatus old = store_.LoadAll()->at(0);
  old.mutable_spec()->clear_namespace_();
  ASSERT_TRUE(store_.Put(old).ok());
  auto restarted = NewManager();
  ASSERT_TRUE(restarted->Recover().ok());
  EXPECT_EQ(restarted->NamespaceOf("hello"), "default");
}

TEST_F(ServiceManagerTest, DeleteForgetsTheService) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  ASSERT_TRUE(Delete("hello").ok());
  EXPECT_EQ(observer_.final_status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(backend_.deleted(), std::vector<std::string>{"hello"});
  EXPECT_EQ(manager_->GetService("hello").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Delete("hello").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_.LoadAll()->empty());
}

TEST_F(ServiceManagerTest, DeletesAfterShutdownAreRefused) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  manager_->Shutdown();
  EXPECT_EQ(Delete("hello").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(manager_->GetService("hello").ok());
  EXPECT_TRUE(backend_.deleted().empty());
}

// Remembers what it was told, as a TTL controller or an activator would.
class RecordingListener final : public ServiceListener {
 public:
  void OnServiceChanged(const ServiceState& service) override {
    changes.push_back(StatusOf(service));
  }
  void OnServiceRemoved(const std::string& name) override {
    removed.push_back(name);
  }
  void OnDeployEnded(const std::string& name,
                     const absl::Status& status) override {
    deploys_ended.emplace_back(name, status.code());
  }
  std::vector<ServiceStatus> changes;
  std::vector<std::string> removed;
  std::vector<std::pair<std::string, absl::StatusCode>> deploys_ended;
};

TEST_F(ServiceManagerTest, ListenersFollowTheServicesChanges) {
  RecordingListener listener;
  manager_->AddListener(&listener);
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  ASSERT_FALSE(listener.changes.empty());
  EXPECT_EQ(listener.changes.back().phase(), ServiceStatus::PHASE_DEPLOYING);
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  EXPECT_EQ(listener.changes.back().replicas(0).revision(), revision_);
  ASSERT_TRUE(Delete("hello").ok());
  EXPECT_EQ(listener.removed, std::vector<std::string>{"hello"});
}

TEST_F(ServiceManagerTest, ScaleToZeroParksAndAWakeComesBackReady) {
  RecordingListener listener;
  manager_->AddListener(&listener);
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);

  auto parked = manager_->Scale("hello", 0, "idle for 30s");
  ASSERT_TRUE(parked.ok()) << parked.status();
  EXPECT_EQ(parked->phase(), ServiceStatus::PHASE_IDLE);
  EXPECT_EQ(parked->message(), "idle for 30s");
  EXPECT_EQ(backend_.scaled().back(), std::make_pair(std::string("hello"), 0));
  manager_->OnReplicaExited(
      "hello", "hello-0",
      {ReplicaExit::Cause::kStoppedByBackend, "stopped", false});
  EXPECT_EQ(manager_->GetService("hello")->replicas_size(), 0);
  EXPECT_EQ((*store_.LoadAll())[0].scale(), 0);

  auto woken = manager_->Scale("hello", std::nullopt, "woken by a call");
  ASSERT_TRUE(woken.ok()) << woken.status();
  EXPECT_EQ(woken->phase(), ServiceStatus::PHASE_DEPLOYING);
  EXPECT_FALSE(woken->has_scale());
  EXPECT_EQ(backend_.scaled().back(), std::make_pair(std::string("hello"), 1));
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  EXPECT_EQ(manager_->GetService("hello")->phase(), ServiceStatus::PHASE_READY);
  EXPECT_FALSE((*store_.LoadAll())[0].has_scale());
  // The client's deploy ended once; the wake-up is no deploy of theirs.
  EXPECT_EQ(listener.deploys_ended,
            (std::vector<std::pair<std::string, absl::StatusCode>>{
                {"hello", absl::StatusCode::kOk}}));
}

TEST_F(ServiceManagerTest, AWakeThatCannotStartFailsWithTheReason) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  AttachAndAnswer("hello-0", RevisionState::STATE_READY);
  ASSERT_TRUE(manager_->Scale("hello", 0, "idle").ok());
  manager_->OnReplicaExited(
      "hello", "hello-0",
      {ReplicaExit::Cause::kStoppedByBackend, "stopped", false});
  ASSERT_TRUE(manager_->Scale("hello", std::nullopt, "woken").ok());
  manager_->OnReplicaFailing("hello", "hello-0",
                             "ImagePullBackOff: image not found");
  auto status = manager_->GetService("hello");
  EXPECT_EQ(status->phase(), ServiceStatus::PHASE_FAILED);
  EXPECT_NE(status->message().find("image not found"), std::string::npos)
      << status->message();
}

TEST_F(ServiceManagerTest, ScaleByHandRunsThatManyUntilTheNextDeploy) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  auto scaled = manager_->Scale("hello", 3, "tether scale");
  ASSERT_TRUE(scaled.ok());
  EXPECT_EQ(scaled->scale(), 3);
  EXPECT_EQ(manager_->GetService("hello")->replicas_size(), 3);
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  EXPECT_FALSE(manager_->GetService("hello")->has_scale());
  EXPECT_EQ(manager_->GetService("hello")->replicas_size(), 1);
}

TEST_F(ServiceManagerTest, ScaleRejectsBadRequestsAndChangesNothing) {
  EXPECT_EQ(manager_->Scale("nope", 0, "").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  const absl::Status negative = manager_->Scale("hello", -1, "").status();
  EXPECT_EQ(negative.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(negative.message().find("replicas"), std::string::npos);
  store_.set_fail_writes(true);
  EXPECT_FALSE(manager_->Scale("hello", 0, "").ok());
  EXPECT_FALSE(manager_->GetService("hello")->has_scale());
  EXPECT_TRUE(backend_.scaled().empty());

  store_.set_fail_writes(false);
  tether::v1::DeployRequest distributed = Request("ranks");
  distributed.mutable_spec()->mutable_compute()->set_replicas(4);
  distributed.mutable_spec()
      ->mutable_compute()
      ->mutable_distributed()
      ->set_workers(4);
  auto deployed = manager_->StartDeploy(distributed, &observer_);
  ASSERT_TRUE(deployed.ok()) << deployed.status();
  EXPECT_EQ(manager_->Scale("ranks", 2, "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(manager_->Scale("ranks", 0, "").ok());
}

TEST_F(ServiceManagerTest, RecoverKeepsAParkedServiceAtZero) {
  ASSERT_TRUE(manager_->StartDeploy(Request(), &observer_).ok());
  ASSERT_TRUE(manager_->Scale("hello", 0, "idle").ok());
  const size_t applies = backend_.applied().size();
  manager_.reset();
  manager_ = NewManager();
  ASSERT_TRUE(manager_->Recover().ok());
  EXPECT_EQ(backend_.applied().size(), applies);
  EXPECT_EQ(backend_.scaled().back(), std::make_pair(std::string("hello"), 0));
  EXPECT_EQ(manager_->GetService("hello")->phase(), ServiceStatus::PHASE_IDLE);
}

}  // namespace
}  // namespace tether::controlplane
