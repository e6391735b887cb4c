#include "controlplane/kubernetes_backend.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "controlplane/recording_backend_listener.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "kube/fake_kube_client.h"
#include "kube/fake_pod_logs.h"
#include "kube/pod_log.h"
#include "kube/pod_policy.h"

namespace tether::controlplane {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kNs[] = "ml";

class KubernetesBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.client = &client_;
    options_.render.kube_namespace = kNs;
    options_.render.agent_image = "registry.example.com/tether/agent:1";
    options_.render.tetherd_address = "tetherd.tether-system.svc:7700";
    options_.tetherd_namespace = "tether-system";
    options_.watch_backoff.initial = absl::Milliseconds(1);
    options_.deadline_check_interval = absl::ZeroDuration();
    options_.clock = &clock_;
    auto backend = KubernetesBackend::Create(options_);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    backend_->Start(&listener_);
  }

  static tether::v1::ServiceSpec Spec(int replicas) {
    tether::v1::ServiceSpec spec;
    spec.set_name("hello");
    spec.mutable_compute()->set_replicas(replicas);
    spec.mutable_compute()->set_image("python:3.11-slim");
    spec.mutable_callable()->set_module("hello");
    spec.mutable_callable()->set_name("greet");
    return spec;
  }

  std::vector<std::string> Names(const kube::ResourceType& type) {
    std::vector<std::string> names;
    for (const json& object : client_.Objects(type, kNs)) {
      names.push_back(kube::ObjectName(object));
    }
    return names;
  }

  // Plays the ReplicaSet controller: a pod of the service.
  void CreatePod(const std::string& name) {
    ASSERT_TRUE(client_
                    .Apply({{"apiVersion", "v1"},
                            {"kind", "Pod"},
                            {"metadata",
                             {{"name", name},
                              {"namespace", kNs},
                              {"labels",
                               {{"app.kubernetes.io/managed-by", "tether"},
                                {"tether.dev/service", "hello"}}}}},
                            {"spec",
                             {{"nodeName", "node-a"},
                              {"containers", {{{"name", "tether"}}}}}}})
                    .ok());
  }

  void Advance(absl::Duration by) { clock_.Advance(by); }

  // Plays the scheduler: no node fits `pod`.
  void MakeUnschedulable(const std::string& pod) {
    ASSERT_TRUE(client_
                    .SetStatus(kube::kPods, kNs, pod,
                               {{"phase", "Pending"},
                                {"conditions",
                                 {{{"type", "PodScheduled"},
                                   {"status", "False"},
                                   {"reason", "Unschedulable"},
                                   {"message",
                                    "0/3 nodes are available: 3 Insufficient "
                                    "nvidia.com/gpu."}}}}})
                    .ok());
    ASSERT_TRUE(listener_.Await(
        absl::StrCat("pending ", pod, " Unschedulable: 0/3 nodes")));
  }

  // Plays the cluster autoscaler's answer about `pod`.
  void AutoscalerSays(const std::string& pod, const std::string& reason,
                      const std::string& message) {
    ASSERT_TRUE(
        client_
            .Apply({{"apiVersion", "v1"},
                    {"kind", "Event"},
                    {"metadata",
                     {{"name", absl::StrCat(pod, ".", reason)},
                      {"namespace", kNs}}},
                    {"involvedObject", {{"kind", "Pod"}, {"name", pod}}},
                    {"type", "Normal"},
                    {"reason", reason},
                    {"message", message}})
            .ok());
  }

  SimulatedClock clock_;
  kube::FakeKubeClient client_;
  KubernetesBackend::Options options_;
  RecordingBackendListener listener_;
  std::unique_ptr<KubernetesBackend> backend_;
};

TEST_F(KubernetesBackendTest, ApplyCreatesTheTokenSecretAndTheWorkload) {
  ASSERT_TRUE(backend_->Apply(Spec(2), "s3cret").ok());
  const std::vector<json> secrets = client_.Objects(kube::kSecrets, kNs);
  ASSERT_EQ(secrets.size(), 1u);
  EXPECT_EQ(kube::ObjectName(secrets[0]), "hello-tether-token");
  EXPECT_EQ(secrets[0]["stringData"]["token"], "s3cret");
  EXPECT_THAT(Names(kube::kDeployments), ElementsAre("hello"));
  EXPECT_THAT(Names(kube::kServices), ElementsAre("hello"));
  EXPECT_THAT(Names(kube::kPodDisruptionBudgets), ElementsAre("hello"));
  const json deployment = client_.Objects(kube::kDeployments, kNs)[0];
  EXPECT_EQ(deployment["spec"]["replicas"], 2);
  const json& env =
      deployment["spec"]["template"]["spec"]["containers"][0]["env"];
  bool token_from_secret = false;
  for (const json& var : env) {
    token_from_secret |=
        var["name"] == "TETHER_SERVICE_TOKEN" &&
        var["valueFrom"]["secretKeyRef"]["name"] == "hello-tether-token";
  }
  EXPECT_TRUE(token_from_secret) << env.dump();
}

TEST_F(KubernetesBackendTest, AnUnchangedSpecAppliesNothing) {
  ASSERT_TRUE(backend_->Apply(Spec(1), "t").ok());
  const int applies = client_.ApplyCount();
  ASSERT_TRUE(backend_->Apply(Spec(1), "t").ok());
  EXPECT_EQ(client_.ApplyCount(), applies);
}

TEST_F(KubernetesBackendTest, ObjectsARenderDropsAreDeleted) {
  ASSERT_TRUE(backend_->Apply(Spec(2), "t").ok());
  ASSERT_THAT(Names(kube::kPodDisruptionBudgets), ElementsAre("hello"));
  ASSERT_TRUE(backend_->Apply(Spec(1), "t").ok());
  EXPECT_THAT(Names(kube::kPodDisruptionBudgets), IsEmpty());
  EXPECT_THAT(Names(kube::kDeployments), ElementsAre("hello"));
}

TEST_F(KubernetesBackendTest, ScaleGoesThroughTheScaleSubresource) {
  ASSERT_TRUE(backend_->Apply(Spec(2), "t").ok());
  const int applies = client_.ApplyCount();
  ASSERT_TRUE(backend_->Scale(Spec(2), "t", 0).ok());
  EXPECT_EQ(*client_.GetScale(kube::kDeployments, kNs, "hello"), 0);
  // The Service stays, so callers still resolve it.
  EXPECT_THAT(Names(kube::kServices), ElementsAre("hello"));
  EXPECT_EQ(client_.ApplyCount(), applies);
  // The next apply of the same spec reaches the cluster: it brings back
  // the spec's count.
  ASSERT_TRUE(backend_->Apply(Spec(2), "t").ok());
  EXPECT_GT(client_.ApplyCount(), applies);
  EXPECT_EQ(*client_.GetScale(kube::kDeployments, kNs, "hello"), 2);
}

TEST_F(KubernetesBackendTest, ScaleOfAMissingWorkloadFails) {
  EXPECT_EQ(backend_->Scale(Spec(1), "t", 0).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(KubernetesBackendTest, DeleteRemovesEveryObject) {
  ASSERT_TRUE(backend_->Apply(Spec(2), "t").ok());
  ASSERT_TRUE(backend_->Delete(Spec(2)).ok());
  EXPECT_THAT(Names(kube::kDeployments), IsEmpty());
  EXPECT_THAT(Names(kube::kServices), IsEmpty());
  EXPECT_THAT(Names(kube::kPodDisruptionBudgets), IsEmpty());
  EXPECT_THAT(Names(kube::kSecrets), IsEmpty());
  EXPECT_TRUE(backend_->Delete(Spec(2)).ok()) << "deleting twice is fine";
}

TEST_F(KubernetesBackendTest, PodTemplatesAreLayeredUnderTheService) {
  ASSERT_TRUE(client_
                  .Apply({{"apiVersion", "v1"},
                          {"kind", "PodTemplate"},
                          {"metadata",
                           {{"name", "tether-default"}, {"namespace", kNs}}},
                          {"template",
                           {{"spec",
                             {{"containers", json::array()},
                              {"priorityClassName", "ml-default"}}}}}})
                  .ok());
  ASSERT_TRUE(backend_->Apply(Spec(1), "t").ok());
  const json deployment = client_.Objects(kube::kDeployments, kNs)[0];
  EXPECT_EQ(deployment["spec"]["template"]["spec"]["priorityClassName"],
            "ml-default");

  tether::v1::ServiceSpec spec = Spec(1);
  spec.mutable_compute()->set_pod_template_name("gpu-big");
  const absl::Status missing = backend_->Apply(spec, "t");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
}

TEST_F(KubernetesBackendTest, ApplyErrorsNameTheObject) {
  client_.FailNext(kube::FakeKubeClient::Verb::kApply,
                   absl::PermissionDeniedError("secrets is forbidden"));
  const absl::Status status = backend_->Apply(Spec(1), "t");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "applying Secret/hello-tether-token: secrets is forbidden");
}

TEST_F(KubernetesBackendTest, PodsAreReplicasAndTheirTroublesAreReported) {
  ASSERT_TRUE(backend_->Apply(Spec(1), "t").ok());
  CreatePod("hello-7d9-abcde");
  ASSERT_TRUE(listener_.Await("started hello-7d9-abcde"));
  EXPECT_THAT(backend_->Replicas("hello"), ElementsAre("hello-7d9-abcde"));
  ASSERT_TRUE(listener_.Await("pending hello-7d9-abcde waiting for a node"));

  ASSERT_TRUE(client_
                  .SetStatus(kube::kPods, kNs, "hello-7d9-abcde",
                             {{"phase", "Pending"},
                              {"containerStatuses",
                               {{{"name", "tether"},
                                 {"state",
                                  {{"waiting",
                                    {{"reason", "ImagePullBackOff"},
                                     {"message", "pull access denied"}}}}}}}}})
                  .ok());
  ASSERT_TRUE(listener_.Await(
      "failing hello-7d9-abcde container tether: ImagePullBackOff: pull "
      "access denied"));

  ASSERT_TRUE(client_.Delete(kube::kPods, kNs, "hello-7d9-abcde").ok());
  ASSERT_TRUE(
      listener_.Await("exited hello-7d9-abcde gone pod removed: pod deleted"));
  EXPECT_THAT(backend_->Replicas("hello"), IsEmpty());
}

TEST_F(KubernetesBackendTest, AMissingVolumeSourceIsReportedFromEvents) {
  CreatePod("hello-0");
  ASSERT_TRUE(listener_.Await("started hello-0"));
  const auto event = [&](const std::string& name, const std::string& pod) {
    return json{{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", name}, {"namespace", kNs}}},
                {"involvedObject", {{"kind", "Pod"}, {"name", pod}}},
                {"type", "Warning"},
                {"reason", "FailedMount"},
                {"message",
                 "MountVolume.SetUp failed for volume \"hf\" : secret "
                 "\"hf-token\" not found"}};
  };
  // About someone else's pod: ignored.
  ASSERT_TRUE(client_.Apply(event("other.1", "other-pod")).ok());
  ASSERT_TRUE(client_.Apply(event("hello-0.1", "hello-0")).ok());
  ASSERT_TRUE(listener_.Await(
      "failing hello-0 FailedMount: MountVolume.SetUp failed for volume "
      "\"hf\" : secret \"hf-token\" not found"));
  // The kubelet repeats it; the listener hears it once.
  ASSERT_TRUE(client_.Apply(event("hello-0.2", "hello-0")).ok());
  ASSERT_TRUE(client_.Delete(kube::kPods, kNs, "hello-0").ok());
  ASSERT_TRUE(listener_.Await("exited hello-0 gone"));
  EXPECT_EQ(listener_.Count("failing"), 1);
}

TEST_F(KubernetesBackendTest, ContainerRestartsAreReportedOnce) {
  CreatePod("hello-0");
  ASSERT_TRUE(listener_.Await("started hello-0"));
  const json restarted = {{"phase", "Running"},
                          {"containerStatuses",
                           {{{"name", "tether"},
                             {"restartCount", 1},
                             {"state", {{"running", json::object()}}}}}}};
  ASSERT_TRUE(client_.SetStatus(kube::kPods, kNs, "hello-0", restarted).ok());
  ASSERT_TRUE(
      listener_.Await("exited hello-0 restart crashed: container restarted"));
  json ready = restarted;
  ready["conditions"] = {{{"type", "Ready"}, {"status", "True"}}};
  ASSERT_TRUE(client_.SetStatus(kube::kPods, kNs, "hello-0", ready).ok());
  // A later event about the pod proves the ready status was processed.
  ASSERT_TRUE(client_.Delete(kube::kPods, kNs, "hello-0").ok());
  ASSERT_TRUE(listener_.Await("exited hello-0 gone"));
  EXPECT_EQ(listener_.Count("exited hello-0 restart"), 1);
}

TEST_F(KubernetesBackendTest, ReplicaLogsReadThePodLogOfEachRun) {
  CreatePod("hello-0");
  ASSERT_TRUE(listener_.Await("started hello-0"));
  ASSERT_TRUE(
      client_
          .SetStatus(kube::kPods, kNs, "hello-0",
                     {{"phase", "Pending"},
                      {"containerStatuses",
                       {{{"name", "tether"},
                         {"state",
                          {{"waiting", {{"reason", "ContainerCreating"}}}}}}}}})
          .ok());
  ASSERT_TRUE(listener_.Await("pending hello-0 container tether: Container"));
  // Not started: nothing to read, and the API server is not asked.
  absl::StatusOr<std::vector<tether::v1::LogLine>> lines =
      backend_->ReplicaLogs("hello", "hello-0", absl::InfinitePast(), 10);
  ASSERT_TRUE(lines.ok()) << lines.status();
  EXPECT_THAT(*lines, IsEmpty());
  EXPECT_EQ(client_.LogsCount(), 0);

  const absl::Time t0 = absl::FromUnixSeconds(1714557600);
  client_.SetPodLog(
      kNs, "hello-0", "tether",
      absl::StrCat(kube::FormatLogTime(t0 - absl::Seconds(9)), " Traceback\n",
                   kube::FormatLogTime(t0 - absl::Seconds(8)),
                   " ImportError: no module named nope\n"),
      kube::LogInstance::kPrevious);
  client_.SetPodLog(kNs, "hello-0", "tether",
                    absl::StrCat(kube::FormatLogTime(t0), " starting again\n"));
  // Restarted after a crash: the run before, then this one.
  const json crash = {
      {"terminated", {{"exitCode", 1}, {"containerID", "containerd://a"}}}};
  ASSERT_TRUE(client_
                  .SetStatus(kube::kPods, kNs, "hello-0",
                             {{"phase", "Running"},
                              {"containerStatuses",
                               {{{"name", "tether"},
                                 {"restartCount", 1},
                                 {"state", {{"running", json::object()}}},
                                 {"lastState", crash}}}}})
                  .ok());
  ASSERT_TRUE(listener_.Await("exited hello-0 restart crashed"));
  lines = backend_->ReplicaLogs("hello", "hello-0", absl::InfinitePast(), 10);
  ASSERT_TRUE(lines.ok()) << lines.status();
  ASSERT_EQ(lines->size(), 3u);
  EXPECT_EQ((*lines)[0].text(), "Traceback");
  EXPECT_EQ((*lines)[0].replica(), "hello-0");
  EXPECT_EQ((*lines)[0].level(), "pod");
  EXPECT_EQ((*lines)[0].stream(), tether::v1::LogLine::STREAM_UNSPECIFIED);
  EXPECT_EQ((*lines)[0].time().seconds(), absl::ToUnixSeconds(t0) - 9);
  EXPECT_EQ((*lines)[2].text(), "starting again");
  EXPECT_EQ(client_.LogsCount(), 2);
  // The last lines only, and only those since a time to the nanosecond.
  lines = backend_->ReplicaLogs("hello", "hello-0", absl::InfinitePast(), 2);
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].text(), "ImportError: no module named nope");
  lines = backend_->ReplicaLogs(
      "hello", "hello-0", t0 - absl::Seconds(9) + absl::Nanoseconds(1), 10);
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].text(), "ImportError: no module named nope");

  // Waiting to restart: a plain read gets the last run, once.
  ASSERT_TRUE(
      client_
          .SetStatus(
              kube::kPods, kNs, "hello-0",
              {{"phase", "Running"},
               {"containerStatuses",
                {{{"name", "tether"},
                  {"restartCount", 1},
                  {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
                  {"lastState", crash}}}}})
          .ok());
  ASSERT_TRUE(listener_.Await("failing hello-0 container tether: Crash"));
  const int reads = client_.LogsCount();
  lines = backend_->ReplicaLogs("hello", "hello-0", absl::InfinitePast(), 10);
  ASSERT_TRUE(lines.ok()) << lines.status();
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[1].text(), "ImportError: no module named nope");
  EXPECT_EQ(client_.LogsCount(), reads + 1);

  client_.FailNext("logs", absl::PermissionDeniedError("pods/log is denied"));
  EXPECT_EQ(backend_->ReplicaLogs("hello", "hello-0", absl::InfinitePast(), 10)
                .status()
                .message(),
            "reading the log of pod hello-0: pods/log is denied");
  EXPECT_TRUE(absl::IsNotFound(
      backend_->ReplicaLogs("hello", "hello-9", absl::InfinitePast(), 10)
          .status()));
  EXPECT_TRUE(absl::IsNotFound(
      backend_->ReplicaLogs("other", "hello-0", absl::InfinitePast(), 10)
          .status()));
}

TEST_F(KubernetesBackendTest, AQuotaRefusalIsReportedForTheService) {
  ASSERT_TRUE(backend_->Apply(Spec(1), "t").ok());
  ASSERT_TRUE(client_
                  .SetStatus(kube::kDeployments, kNs, "hello",
                             {{"conditions",
                               {{{"type", "ReplicaFailure"},
                                 {"status", "True"},
                                 {"reason", "FailedCreate"},
                                 {"message", "exceeded quota: gpu-quota"}}}}})
                  .ok());
  ASSERT_TRUE(
      listener_.Await("failing  FailedCreate: exceeded quota: gpu-quota"));
}

TEST_F(KubernetesBackendTest, ValidateRejectsWhatCannotRender) {
  EXPECT_TRUE(backend_->Validate(Spec(1)).ok());
  tether::v1::ServiceSpec spec = Spec(1);
  spec.mutable_compute()->clear_image();
  const absl::Status status = backend_->Validate(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("compute.image"));
  spec = Spec(1);
  spec.mutable_compute()->set_pod_template_name("gpu-big");
  EXPECT_TRUE(backend_->Validate(spec).ok())
      << "the named template is only read at apply time";
  EXPECT_EQ(client_.ApplyCount(), 0);
}

TEST_F(KubernetesBackendTest, ValidateRefusesAnotherNamespace) {
  tether::v1::ServiceSpec spec = Spec(1);
  spec.set_namespace_(kNs);
  EXPECT_TRUE(backend_->Validate(spec).ok());
  spec.set_namespace_("team-b");
  const absl::Status status = backend_->Validate(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("namespace: \"team-b\""));
  EXPECT_THAT(status.message(), HasSubstr("--kube_namespace"));
}

// After every template is merged: here the cluster default's "primary".
TEST_F(KubernetesBackendTest, APodThePolicyRefusesIsNeitherValidNorApplied) {
  ASSERT_TRUE(
      client_
          .Apply(
              {{"apiVersion", "v1"},
               {"kind", "PodTemplate"},
               {"metadata", {{"name", "tether-default"}, {"namespace", kNs}}},
               {"template",
                {{"spec",
                  {{"containers",
                    {{{"name", "primary"},
                      {"securityContext", {{"privileged", true}}}}}}}}}}})
          .ok());
  const int applies = client_.ApplyCount();
  tether::v1::ServiceSpec spec = Spec(1);
  constexpr char kRefused[] =
      "Deployment/hello: spec.template.spec.containers[0].securityContext."
      "privileged: true is refused by the cluster's pod policy (tetherd "
      "--pod_policy_file, allow_privileged)";
  absl::Status status = backend_->Validate(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(), kRefused);
  // Opting out of the restricted defaults does not opt out of the policy.
  spec.mutable_compute()->set_pod_security(tether::v1::POD_SECURITY_BASELINE);
  EXPECT_EQ(backend_->Validate(spec).message(), kRefused);
  status = backend_->Apply(spec, "t");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(), kRefused);
  EXPECT_EQ(client_.ApplyCount(), applies);

  tether::v1::PodPolicy config;
  config.set_allow_privileged(true);
  absl::StatusOr<kube::PodPolicy> policy = kube::PodPolicy::Create(config);
  ASSERT_TRUE(policy.ok());
  options_.pod_policy = *policy;
  absl::StatusOr<std::unique_ptr<KubernetesBackend>> allowing =
      KubernetesBackend::Create(options_);
  ASSERT_TRUE(allowing.ok());
  EXPECT_TRUE((*allowing)->Validate(spec).ok());
}

TEST_F(KubernetesBackendTest, AnAppliedWorkloadsPodIsCheckedToo) {
  tether::v1::ServiceSpec spec;
  spec.set_name("web");
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {"selector": {"matchLabels": {"app": "web"}},
      "template": {"metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "python:3.11"}],
                 "volumes": [{"name": "etc", "hostPath": {"path": "/etc"}}]}}}
  })",
                  spec.mutable_workload()->mutable_object())
                  .ok());
  const absl::Status status = backend_->Validate(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "Deployment/web: spec.template.spec.volumes[2].hostPath.path: "
            "\"/etc\" is refused by the cluster's pod policy (tetherd "
            "--pod_policy_file, allowed_host_paths)");
  EXPECT_EQ(backend_->Apply(spec, "t").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(client_.ApplyCount(), 0);
}

TEST_F(KubernetesBackendTest, AStatefulSetRefusedItsPodsIsReported) {
  tether::v1::ServiceSpec spec = Spec(2);
  spec.mutable_compute()->mutable_distributed()->set_workers(2);
  ASSERT_TRUE(backend_->Apply(spec, "t").ok());
  ASSERT_THAT(Names(kube::kStatefulSets), ElementsAre("hello"));
  ASSERT_TRUE(
      client_
          .Apply(
              {{"apiVersion", "v1"},
               {"kind", "Event"},
               {"metadata", {{"name", "hello.1"}, {"namespace", kNs}}},
               {"involvedObject", {{"kind", "StatefulSet"}, {"name", "hello"}}},
               {"type", "Warning"},
               {"reason", "FailedCreate"},
               {"message", "pods \"hello-1\" is forbidden: exceeded quota"}})
          .ok());
  ASSERT_TRUE(listener_.Await(
      "failing  FailedCreate: pods \"hello-1\" is forbidden: exceeded quota"));
}

TEST_F(KubernetesBackendTest, AnUnschedulablePodWaitsOutTheGraceThenFails) {
  CreatePod("hello-0");
  MakeUnschedulable("hello-0");
  Advance(absl::Seconds(30));
  backend_->CheckDeadlines();
  EXPECT_EQ(listener_.Count("failing"), 0) << "an autoscaler may answer";
  Advance(absl::Seconds(31));
  backend_->CheckDeadlines();
  EXPECT_TRUE(listener_.Await(
      "failing hello-0 Unschedulable: 0/3 nodes are available: 3 "
      "Insufficient nvidia.com/gpu. (no node was added for it within 1m)"));
  backend_->CheckDeadlines();
  EXPECT_EQ(listener_.Count("failing"), 1);
}

TEST_F(KubernetesBackendTest, APodTheAutoscalerIsAddingANodeForWaits) {
  CreatePod("hello-0");
  MakeUnschedulable("hello-0");
  AutoscalerSays("hello-0", "TriggeredScaleUp",
                 "pod triggered scale-up: [{gpu-pool 0->1 (max: 4)}]");
  ASSERT_TRUE(listener_.Await("pending hello-0 TriggeredScaleUp"));
  Advance(absl::Minutes(10));
  backend_->CheckDeadlines();
  EXPECT_EQ(listener_.Count("failing"), 0);
}

TEST_F(KubernetesBackendTest, APodTheAutoscalerCannotHelpFailsAtOnce) {
  CreatePod("hello-0");
  MakeUnschedulable("hello-0");
  AutoscalerSays("hello-0", "NotTriggerScaleUp",
                 "pod didn't trigger scale-up: 1 max node group size reached");
  EXPECT_TRUE(listener_.Await(
      "failing hello-0 Unschedulable: 0/3 nodes are available: 3 "
      "Insufficient nvidia.com/gpu.; NotTriggerScaleUp: pod didn't trigger "
      "scale-up: 1 max node group size reached"));
}

TEST(KubernetesBackendCreateTest, MissingSettingsAreNamed) {
  kube::FakeKubeClient client;
  KubernetesBackend::Options options;
  options.client = &client;
  options.render.tetherd_address = "tetherd:7700";
  EXPECT_THAT(KubernetesBackend::Create(options).status().message(),
              HasSubstr("agent image"));
  options.render.agent_image = "agent:1";
  options.render.tetherd_address = "";
  EXPECT_THAT(KubernetesBackend::Create(options).status().message(),
              HasSubstr("--advertise_address"));
}

}  // namespace
}  // namespace tether::controlplane
