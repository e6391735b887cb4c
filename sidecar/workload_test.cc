#include "sidecar/workload.h"

#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "kube/restricted_profile.h"
#include "sidecar/test_config.h"

namespace tether::sidecar {
namespace {

using json = nlohmann::json;
using ::testing::IsEmpty;

constexpr char kDeployment[] = R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "web", "labels": {"team": "ml"}},
  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
    "template": {"metadata": {"labels": {"app": "web"}},
      "spec": {"containers": [{"name": "app", "image": "python:3.11",
                               "command": ["python", "-m", "server"],
                               "ports": [{"containerPort": 8000}]}]}}}})";

tether::v1::ServiceSpec Spec(const std::string& object) {
  tether::v1::ServiceSpec spec;
  spec.set_name("web");
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                  object, spec.mutable_workload()->mutable_object())
                  .ok());
  return spec;
}

WorkloadTarget Target() {
  WorkloadTarget target;
  target.kube_namespace = "ml";
  target.token_secret = "web-tether-token";
  target.labels = {{"app.kubernetes.io/managed-by", "tether"},
                   {"tether.dev/service", "web"}};
  return target;
}

TEST(InjectWorkloadTest, WrapsTheTemplateAndLabelsObjectAndPods) {
  tether::v1::ServiceSpec spec = Spec(kDeployment);
  spec.mutable_callable()->set_module("server");
  spec.mutable_callable()->set_name("handle");
  absl::StatusOr<json> object =
      InjectWorkload(spec, TestInjectorConfig(), Target());
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_EQ((*object)["metadata"]["namespace"], "ml");
  EXPECT_EQ((*object)["metadata"]["labels"],
            json::parse(R"({"team": "ml", "tether.dev/service": "web",
                            "app.kubernetes.io/managed-by": "tether"})"));
  const json& pod = (*object)["spec"]["template"];
  EXPECT_EQ(pod["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(pod["metadata"]["labels"]["tether.dev/service"], "web");
  const json status = json::parse(
      pod["metadata"]["annotations"]["tether.dev/status"].get<std::string>());
  EXPECT_EQ(status["mode"], "wrap");
  EXPECT_EQ(status["service"], "web");
  const json& app = pod["spec"]["containers"][0];
  EXPECT_EQ(app["command"], json::array({"/tether/bin/tether-agent"}));
  // The token comes from the service's Secret.
  EXPECT_NE(app["env"].dump().find("web-tether-token"), std::string::npos);
  // Everything else stays as written.
  EXPECT_EQ((*object)["spec"]["replicas"], 2);
  EXPECT_EQ((*object)["spec"]["selector"],
            json::parse(R"({"matchLabels": {"app": "web"}})"));
}

// `tether apply` gets the injector's pod security, and its opt-out.
TEST(InjectWorkloadTest, TheTemplateIsRestrictedUnlessItsAnnotationSaysNot) {
  tether::v1::ServiceSpec spec = Spec(kDeployment);
  spec.mutable_callable()->set_module("server");
  spec.mutable_callable()->set_name("handle");
  absl::StatusOr<json> object =
      InjectWorkload(spec, TestInjectorConfig(), Target());
  ASSERT_TRUE(object.ok()) << object.status();
  const json& pod_spec = (*object)["spec"]["template"]["spec"];
  EXPECT_THAT(kube::RestrictedProfileViolations(pod_spec), IsEmpty());
  EXPECT_EQ(pod_spec["automountServiceAccountToken"], false);

  json manifest = json::parse(kDeployment);
  manifest["spec"]["template"]["metadata"]["annotations"] = {
      {"tether.dev/pod-security", "baseline"}};
  spec = Spec(manifest.dump());
  spec.mutable_callable()->set_module("server");
  spec.mutable_callable()->set_name("handle");
  object = InjectWorkload(spec, TestInjectorConfig(), Target());
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_FALSE(
      (*object)["spec"]["template"]["spec"].contains("securityContext"));
}

TEST(InjectWorkloadTest, AnAppIsInjectedInSidecarModeWithItsPortAndReload) {
  tether::v1::ServiceSpec spec = Spec(kDeployment);
  spec.mutable_app()->set_port(8000);
  spec.mutable_app()->add_reload_command("kill");
  spec.mutable_app()->add_reload_command("-HUP");
  spec.mutable_app()->add_reload_command("1");
  absl::StatusOr<json> object =
      InjectWorkload(spec, TestInjectorConfig(), Target());
  ASSERT_TRUE(object.ok()) << object.status();
  const json& pod = (*object)["spec"]["template"]["spec"];
  const json& agent = pod["initContainers"][0];
  EXPECT_EQ(agent["name"], "tether");
  const std::string args = agent["args"].dump();
  EXPECT_NE(args.find("--app_port=8000"), std::string::npos) << args;
  EXPECT_NE(args.find("--reload_command="), std::string::npos) << args;
  // The app keeps its own program.
  EXPECT_EQ(pod["containers"][0]["command"],
            json::parse(R"(["python", "-m", "server"])"));
}

TEST(InjectWorkloadTest, ACronJobsTemplateIsUnderItsJobTemplate) {
  tether::v1::ServiceSpec spec = Spec(R"({
    "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "etl"},
    "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {
      "spec": {"restartPolicy": "OnFailure",
               "containers": [{"name": "etl", "image": "python:3.11",
                               "command": ["python", "etl.py"]}]}}}}}})");
  spec.mutable_callable()->set_module("etl");
  spec.mutable_callable()->set_name("run");
  absl::StatusOr<json> object =
      InjectWorkload(spec, TestInjectorConfig(), Target());
  ASSERT_TRUE(object.ok()) << object.status();
  const json& container = (*object)["spec"]["jobTemplate"]["spec"]["template"]
                                   ["spec"]["containers"][0];
  // The Job's program keeps running under the agent, so each run ends.
  EXPECT_EQ(container["args"].back(), R"(--app_command=["python","etl.py"])");
}

TEST(InjectWorkloadTest, AnyKindWithAPathToItsPodTemplate) {
  tether::v1::ServiceSpec spec = Spec(R"({
    "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
    "metadata": {"name": "train"},
    "spec": {"pytorchReplicaSpecs": {"Worker": {"replicas": 2, "template": {
      "spec": {"containers": [{"name": "pytorch", "image": "pytorch:2",
                               "command": ["python", "train.py"]}]}}}}}})");
  spec.mutable_workload()->set_pod_template_path(
      "spec.pytorchReplicaSpecs.Worker.template");
  spec.mutable_callable()->set_module("train");
  spec.mutable_callable()->set_name("step");
  absl::StatusOr<json> object =
      InjectWorkload(spec, TestInjectorConfig(), Target());
  ASSERT_TRUE(object.ok()) << object.status();
  const json& pod =
      (*object)["spec"]["pytorchReplicaSpecs"]["Worker"]["template"];
  EXPECT_EQ(pod["metadata"]["labels"]["tether.dev/service"], "web");
  EXPECT_EQ(pod["spec"]["containers"][0]["command"],
            json::array({"/tether/bin/tether-agent"}));
  // A training run is not a server: its program runs on under the agent.
  EXPECT_EQ(pod["spec"]["containers"][0]["args"].back(),
            R"(--app_command=["python","train.py"])");
}

TEST(InjectWorkloadTest, ErrorsNameTheFieldInTheWorkload) {
  tether::v1::ServiceSpec spec = Spec(R"({
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
    "spec": {}})");
  EXPECT_EQ(
      InjectWorkload(spec, TestInjectorConfig(), Target()).status().message(),
      "workload.object.spec.template: required (the pod template)");
  spec = Spec(R"({
    "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train"},
    "spec": {"template": {"spec": {"restartPolicy": "Never",
      "containers": [{"name": "train", "image": "python:3.11"}]}}}})");
  EXPECT_TRUE(absl::StartsWith(
      InjectWorkload(spec, TestInjectorConfig(), Target()).status().message(),
      "workload.object.spec.template: spec.containers[name=train].command: "
      "required when the container's program runs on"));
}

}  // namespace
}  // namespace tether::sidecar
