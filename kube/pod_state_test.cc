#include "kube/pod_state.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::kube {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json Pod(json status) {
  return {{"metadata", {{"name", "hello-abc"}}}, {"status", std::move(status)}};
}

json Waiting(const std::string& container, const std::string& reason,
             const std::string& message) {
  return {{"name", container},
          {"ready", false},
          {"restartCount", 0},
          {"state", {{"waiting", {{"reason", reason}, {"message", message}}}}}};
}

TEST(PodStateTest, APodWithoutStatusWaitsForANode) {
  const PodState state = ReadPodState({{"metadata", {{"name", "p"}}}});
  EXPECT_FALSE(state.ready);
  EXPECT_FALSE(state.terminating);
  EXPECT_EQ(state.problem, "");
  EXPECT_EQ(state.progress, "waiting for a node");
}

TEST(PodStateTest, AReadyPodIsRunning) {
  const PodState state =
      ReadPodState(Pod({{"phase", "Running"},
                        {"conditions",
                         {{{"type", "PodScheduled"}, {"status", "True"}},
                          {{"type", "Ready"}, {"status", "True"}}}},
                        {"containerStatuses",
                         {{{"name", "tether"},
                           {"restartCount", 2},
                           {"state", {{"running", {{"startedAt", "x"}}}}}}}}}));
  EXPECT_TRUE(state.ready);
  EXPECT_EQ(state.restarts, 2);
  EXPECT_EQ(state.problem, "");
  EXPECT_EQ(state.progress, "running");
}

TEST(PodStateTest, ImagePullErrorsAreProblemsNamingTheContainer) {
  for (const char* reason :
       {"ErrImagePull", "ImagePullBackOff", "InvalidImageName"}) {
    const PodState state = ReadPodState(
        Pod({{"phase", "Pending"},
             {"conditions", {{{"type", "PodScheduled"}, {"status", "True"}}}},
             {"containerStatuses",
              {Waiting("tether", reason,
                       "Back-off pulling image \"nope:latest\"")}}}));
    EXPECT_EQ(state.problem, std::string("container tether: ") + reason +
                                 ": Back-off pulling image \"nope:latest\"");
  }
}

TEST(PodStateTest, AnInitContainerThatCannotPullIsAProblem) {
  const PodState state = ReadPodState(
      Pod({{"phase", "Pending"},
           {"initContainerStatuses",
            {Waiting("tether-agent", "ImagePullBackOff", "no such image")}},
           {"containerStatuses", {Waiting("tether", "PodInitializing", "")}}}));
  EXPECT_EQ(state.problem,
            "init container tether-agent: ImagePullBackOff: no such image");
}

TEST(PodStateTest, UnschedulableCarriesTheSchedulersMessage) {
  const PodState state = ReadPodState(
      Pod({{"phase", "Pending"},
           {"conditions",
            {{{"type", "PodScheduled"},
              {"status", "False"},
              {"reason", "Unschedulable"},
              {"message",
               "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}}}}}));
  EXPECT_EQ(state.problem, "") << "an autoscaler may add a node";
  EXPECT_EQ(state.unschedulable,
            "Unschedulable: 0/3 nodes are available: 3 Insufficient "
            "nvidia.com/gpu.");
}

TEST(PodStateTest, CrashLoopSaysHowTheContainerLastExited) {
  json status = Waiting("tether", "CrashLoopBackOff",
                        "back-off 10s restarting failed container");
  status["restartCount"] = 3;
  status["lastState"] = {
      {"terminated",
       {{"reason", "Error"},
        {"exitCode", 2},
        // FallbackToLogsOnError: the tail of the crashed container's log.
        {"message", "ModuleNotFoundError: No module named 'torch'"}}}};
  const PodState state = ReadPodState(
      Pod({{"phase", "Running"}, {"containerStatuses", {status}}}));
  EXPECT_EQ(state.restarts, 3);
  EXPECT_THAT(state.problem, HasSubstr("container tether: CrashLoopBackOff"));
  EXPECT_THAT(state.problem,
              HasSubstr("last exit: Error (exit code 2): ModuleNotFoundError: "
                        "No module named 'torch'"));
}

TEST(PodStateTest, AnOomKillIsAProblemEvenWhileTheContainerRunsAgain) {
  const PodState state = ReadPodState(
      Pod({{"phase", "Running"},
           {"containerStatuses",
            {{{"name", "tether"},
              {"restartCount", 1},
              {"state", {{"running", json::object()}}},
              {"lastState",
               {{"terminated",
                 {{"reason", "OOMKilled"}, {"exitCode", 137}}}}}}}}}));
  EXPECT_THAT(state.problem, HasSubstr("container tether: OOMKilled"));
  EXPECT_THAT(state.problem, HasSubstr("compute.memory"));
}

TEST(PodStateTest, AMissingSecretKeyIsAProblem) {
  const PodState state =
      ReadPodState(Pod({{"phase", "Pending"},
                        {"containerStatuses",
                         {Waiting("tether", "CreateContainerConfigError",
                                  "secret \"hf\" not found")}}}));
  EXPECT_EQ(state.problem,
            "container tether: CreateContainerConfigError: secret \"hf\" not "
            "found");
}

TEST(PodStateTest, AnEvictedPodIsAProblem) {
  const PodState state =
      ReadPodState(Pod({{"phase", "Failed"},
                        {"reason", "Evicted"},
                        {"message", "The node was low on resource: memory."}}));
  EXPECT_EQ(state.problem,
            "pod failed: Evicted: The node was low on resource: memory.");
}

TEST(PodStateTest, PullingIsProgressNotAProblem) {
  const PodState state = ReadPodState(Pod(
      {{"phase", "Pending"},
       {"conditions", {{{"type", "PodScheduled"}, {"status", "True"}}}},
       {"containerStatuses", {Waiting("tether", "ContainerCreating", "")}}}));
  EXPECT_EQ(state.problem, "");
  EXPECT_EQ(state.progress, "container tether: ContainerCreating");
}

TEST(PodStateTest, ADeletionTimestampMeansTerminating) {
  json pod = Pod({{"phase", "Running"}});
  pod["metadata"]["deletionTimestamp"] = "2026-11-22T09:00:00Z";
  EXPECT_TRUE(ReadPodState(pod).terminating);
}

TEST(PodStateTest, AQuotaRefusalIsAWorkloadProblem) {
  const json deployment = {
      {"status",
       {{"conditions",
         {{{"type", "Progressing"}, {"status", "True"}},
          {{"type", "ReplicaFailure"},
           {"status", "True"},
           {"reason", "FailedCreate"},
           {"message", "pods \"hello-1\" is forbidden: exceeded quota"}}}}}}};
  EXPECT_EQ(ReadWorkloadProblem(deployment),
            "FailedCreate: pods \"hello-1\" is forbidden: exceeded quota");
}

TEST(PodStateTest, AStalledRolloutIsAWorkloadProblem) {
  const json deployment = {
      {"status",
       {{"conditions",
         {{{"type", "Progressing"},
           {"status", "False"},
           {"reason", "ProgressDeadlineExceeded"},
           {"message",
            "ReplicaSet \"hello-5d\" has timed out progressing."}}}}}}};
  EXPECT_EQ(ReadWorkloadProblem(deployment),
            "ProgressDeadlineExceeded: ReplicaSet \"hello-5d\" has timed out "
            "progressing.");
  EXPECT_EQ(ReadWorkloadProblem({{"status", {{"replicas", 1}}}}), "");
}

TEST(PodStateTest, AVolumeWhoseSecretIsMissingIsAProblem) {
  const json event = {
      {"type", "Warning"},
      {"reason", "FailedMount"},
      {"involvedObject", {{"kind", "Pod"}, {"name", "hello-abc"}}},
      {"message",
       "MountVolume.SetUp failed for volume \"hf\" : secret \"hf-token\" "
       "not found"}};
  const ClusterEvent read = ReadClusterEvent(event);
  EXPECT_EQ(read.pod, "hello-abc");
  EXPECT_EQ(read.problem,
            "FailedMount: MountVolume.SetUp failed for volume \"hf\" : secret "
            "\"hf-token\" not found");
  EXPECT_EQ(read.progress, "");
}

TEST(PodStateTest, OtherEventsAreProgressOrNothing) {
  json event = {{"type", "Warning"},
                {"reason", "FailedAttachVolume"},
                {"involvedObject", {{"kind", "Pod"}, {"name", "hello-abc"}}},
                {"message", "AttachVolume.Attach failed: timed out waiting"}};
  EXPECT_EQ(ReadClusterEvent(event).progress,
            "FailedAttachVolume: AttachVolume.Attach failed: timed out "
            "waiting");
  event["type"] = "Normal";
  EXPECT_EQ(ReadClusterEvent(event).pod, "");
  event["type"] = "Warning";
  event["involvedObject"]["kind"] = "Node";
  EXPECT_EQ(ReadClusterEvent(event).pod, "");
  EXPECT_EQ(ReadClusterEvent(json("garbage")).pod, "");
}

TEST(PodStateTest, AStatefulSetRefusedItsPodsIsAProblem) {
  const ClusterEvent read = ReadClusterEvent(
      {{"type", "Warning"},
       {"reason", "FailedCreate"},
       {"involvedObject", {{"kind", "StatefulSet"}, {"name", "trainer"}}},
       {"message",
        "create Pod trainer-1 in StatefulSet trainer failed error: pods "
        "\"trainer-1\" is forbidden: exceeded quota: gpus"}});
  EXPECT_EQ(read.stateful_set, "trainer");
  EXPECT_EQ(read.pod, "");
  EXPECT_EQ(read.problem,
            "FailedCreate: create Pod trainer-1 in StatefulSet trainer failed "
            "error: pods \"trainer-1\" is forbidden: exceeded quota: gpus");
}

TEST(PodStateTest, TheAutoscalersAnswerAboutAPodIsRead) {
  json event = {
      {"type", "Normal"},
      {"reason", "TriggeredScaleUp"},
      {"involvedObject", {{"kind", "Pod"}, {"name", "gpu-0"}}},
      {"message", "pod triggered scale-up: [{gpu-pool 0->1 (max: 4)}]"}};
  ClusterEvent read = ReadClusterEvent(event);
  EXPECT_EQ(read.pod, "gpu-0");
  EXPECT_EQ(read.scale_up, ClusterEvent::kTriggered);
  EXPECT_EQ(read.progress,
            "TriggeredScaleUp: pod triggered scale-up: [{gpu-pool 0->1 (max: "
            "4)}]");
  event["reason"] = "NotTriggerScaleUp";
  event["message"] =
      "pod didn't trigger scale-up: 1 max node group size reached";
  read = ReadClusterEvent(event);
  EXPECT_EQ(read.scale_up, ClusterEvent::kRefused);
  EXPECT_EQ(read.problem,
            "NotTriggerScaleUp: pod didn't trigger scale-up: 1 max node group "
            "size reached");
}

}  // namespace
}  // namespace tether::kube
