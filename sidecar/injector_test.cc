#include "sidecar/injector.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kube/restricted_profile.h"
#include "sidecar/test_config.h"

namespace tether::sidecar {
namespace {

using json = nlohmann::json;
using ::testing::IsEmpty;

// A PodTemplateSpec as `tether inject` passes it.
json Template(const json& annotations = json::object()) {
  json pod = json::parse(R"({
    "metadata": {"labels": {"tether.dev/inject": "true",
                            "app.kubernetes.io/name": "hello"}},
    "spec": {"containers": [{"name": "app", "image": "python:3.11",
                             "env": [{"name": "A", "value": "1"}]}]}
  })");
  if (!annotations.empty()) pod["metadata"]["annotations"] = annotations;
  return pod;
}

TEST(InjectPodTest, WrapRecordsWhatItDidAndIsIdempotent) {
  absl::StatusOr<Injection> first = InjectPod(Template(), TestInjectorConfig());
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->injected);
  EXPECT_TRUE(first->opted_in);
  EXPECT_EQ(first->description,
            "injected tether-agent (wrap mode) into container \"app\" for "
            "service \"hello\"");
  const json status =
      json::parse(first->pod["metadata"]["annotations"]["tether.dev/status"]
                      .get<std::string>());
  EXPECT_EQ(status, json::parse(R"({
    "mode": "wrap", "container": "app", "service": "hello",
    "env": ["TETHER_POD_NAME", "TETHER_POD_IP", "POD_NAME", "POD_NAMESPACE"],
    "replaced": [], "initContainers": ["tether-agent-install"],
    "volumes": ["tether-agent", "tether-work"], "podSecurity": "restricted"})"));
  absl::StatusOr<Injection> second =
      InjectPod(first->pod, TestInjectorConfig());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->injected);
  EXPECT_EQ(second->pod, first->pod);
  EXPECT_EQ(second->skipped, "already injected (tether.dev/status)");
  EXPECT_TRUE(second->opted_in);
}

TEST(InjectPodTest, NotAskedIsLeftAlone) {
  json pod = Template();
  pod["metadata"]["labels"]["tether.dev/inject"] = "false";
  absl::StatusOr<Injection> result = InjectPod(pod, TestInjectorConfig());
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->injected);
  EXPECT_FALSE(result->opted_in);
  EXPECT_EQ(result->pod, pod);
}

TEST(InjectPodTest, AUsersOwnValueOfAnAgentVariableIsRefusedNotOverwritten) {
  json pod = Template();
  pod["spec"]["containers"][0]["env"].push_back(
      {{"name", "TETHER_POD_IP"}, {"value", "10.0.0.1"}});
  EXPECT_EQ(InjectPod(pod, TestInjectorConfig()).status().message(),
            "spec.containers[name=app].env[name=TETHER_POD_IP]: set by "
            "Tether for the agent; remove it");
}

TEST(InjectPodTest, SidecarProxiesTheAppPortAndTellsTheAppWhereTheCodeIs) {
  absl::StatusOr<Injection> result =
      InjectPod(Template({{"tether.dev/inject-mode", "sidecar"},
                          {"tether.dev/app-port", "8000"},
                          {"tether.dev/proxy-port", "9000"}}),
                TestInjectorConfig());
  ASSERT_TRUE(result.ok()) << result.status();
  const json& spec = result->pod["spec"];
  const json& agent = spec["initContainers"][0];
  const json& args = agent["args"];
  EXPECT_NE(std::find(args.begin(), args.end(), "--app_port=8000"), args.end());
  EXPECT_NE(std::find(args.begin(), args.end(), "--proxy_listen=0.0.0.0:9000"),
            args.end());
  EXPECT_EQ(agent["ports"].back(), json::parse(R"({"name": "tether-proxy",
      "containerPort": 9000, "protocol": "TCP"})"));
  EXPECT_EQ(spec["containers"][0]["env"][0],
            json::parse(R"({"name": "TETHER_CODE_DIR",
                            "value": "/var/lib/tether/current"})"));
  EXPECT_TRUE(result->warnings.empty());
  // A variable the app sets is its own.
  json own = Template({{"tether.dev/inject-mode", "sidecar"}});
  own["spec"]["containers"][0]["env"].push_back(
      {{"name", "TETHER_CODE_DIR"}, {"value", "/src"}});
  result = InjectPod(own, TestInjectorConfig());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->pod["spec"]["containers"][0]["env"],
            own["spec"]["containers"][0]["env"]);
  // Without an app port the app's traffic is not seen: say so.
  ASSERT_EQ(result->warnings.size(), 1u);
  EXPECT_TRUE(
      absl::StartsWith(result->warnings[0], "tether.dev/app-port is not set"));
}

TEST(InjectPodTest, AJobKeepsItsProgramUnderTheAgentSoItStillFinishes) {
  json job = Template();
  job["spec"]["restartPolicy"] = "Never";
  job["spec"]["containers"][0]["command"] = json::array({"python"});
  job["spec"]["containers"][0]["args"] = json::array({"train.py", "--fast"});
  absl::StatusOr<Injection> result = InjectPod(job, TestInjectorConfig());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->pod["spec"]["containers"][0]["args"].back(),
            R"(--app_command=["python","train.py","--fast"])");
  // The image's entrypoint cannot be seen at admission.
  job["spec"]["containers"][0].erase("command");
  EXPECT_EQ(InjectPod(job, TestInjectorConfig()).status().message(),
            "spec.containers[name=app].command: required when the "
            "container's program runs on under the agent (a pod that must "
            "complete, or tether.dev/keep-program): an image's entrypoint "
            "cannot be seen at admission");
}

TEST(InjectPodTest, KeepProgramIsTheAnnotationsToSay) {
  json server = Template({{"tether.dev/keep-program", "true"}});
  server["spec"]["containers"][0]["command"] = json::array({"serve"});
  absl::StatusOr<Injection> result = InjectPod(server, TestInjectorConfig());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->pod["spec"]["containers"][0]["args"].back(),
            R"(--app_command=["serve"])");
  json job = Template({{"tether.dev/keep-program", "false"}});
  job["spec"]["restartPolicy"] = "Never";
  result = InjectPod(job, TestInjectorConfig());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->pod["spec"]["containers"][0]["args"].back(),
            "--health_listen=0.0.0.0:8081");
  EXPECT_EQ(InjectPod(Template({{"tether.dev/keep-program", "yes"}}),
                      TestInjectorConfig())
                .status()
                .message(),
            "metadata.annotations[\"tether.dev/keep-program\"]: \"yes\" is "
            "not \"true\" or \"false\"");
}

TEST(InjectPodTest, InjectedPodsPassTheRestrictedProfile) {
  for (const json& annotations :
       {json::object(), json{{"tether.dev/inject-mode", "sidecar"},
                             {"tether.dev/app-port", "8000"}}}) {
    for (const bool native : {true, false}) {
      InjectorConfig config = TestInjectorConfig();
      config.native_sidecars = native;
      absl::StatusOr<Injection> result =
          InjectPod(Template(annotations), config);
      ASSERT_TRUE(result.ok()) << result.status();
      const json& spec = result->pod["spec"];
      EXPECT_THAT(kube::RestrictedProfileViolations(spec), IsEmpty())
          << spec.dump(2);
      EXPECT_EQ(spec["automountServiceAccountToken"], false);
    }
  }
}

TEST(InjectPodTest, ThePodsOwnSecuritySettingsWin) {
  json pod = Template();
  pod["spec"]["serviceAccountName"] = "reader";
  pod["spec"]["securityContext"] = {{"runAsUser", 1000}};
  pod["spec"]["containers"][0]["securityContext"] = {
      {"capabilities", {{"drop", {"NET_RAW"}}}}};
  absl::StatusOr<Injection> result = InjectPod(pod, TestInjectorConfig());
  ASSERT_TRUE(result.ok()) << result.status();
  const json& spec = result->pod["spec"];
  EXPECT_FALSE(spec.contains("automountServiceAccountToken"));
  EXPECT_EQ(spec["securityContext"]["runAsUser"], 1000);
  EXPECT_EQ(spec["containers"][0]["securityContext"]["capabilities"]["drop"],
            json::array({"NET_RAW"}));
}

TEST(InjectPodTest, BaselineAddsNoSecuritySettings) {
  absl::StatusOr<Injection> result =
      InjectPod(Template({{"tether.dev/pod-security", "baseline"}}),
                TestInjectorConfig());
  ASSERT_TRUE(result.ok()) << result.status();
  const json& spec = result->pod["spec"];
  EXPECT_FALSE(spec.contains("securityContext"));
  EXPECT_FALSE(spec.contains("automountServiceAccountToken"));
  EXPECT_FALSE(spec["containers"][0].contains("securityContext"));
  EXPECT_FALSE(spec["initContainers"][0].contains("securityContext"));
  EXPECT_FALSE(
      json::parse(result->pod["metadata"]["annotations"]["tether.dev/status"]
                      .get<std::string>())
          .contains("podSecurity"));
}

TEST(InjectPodTest, ErrorsNameTheField) {
  const std::vector<std::pair<json, std::string>> cases = {
      {Template({{"tether.dev/inject-mode", "proxy"}}),
       "metadata.annotations[\"tether.dev/inject-mode\"]: \"proxy\" is not a "
       "mode (wrap or sidecar)"},
      {Template({{"tether.dev/reload-command", "[\"x\"]"}}),
       "metadata.annotations[\"tether.dev/reload-command\"]: only for "
       "tether.dev/inject-mode: sidecar"},
      {Template({{"tether.dev/inject-mode", "sidecar"},
                 {"tether.dev/reload-command", "kill -HUP 1"}}),
       "metadata.annotations[\"tether.dev/reload-command\"]: \"kill -HUP 1\" "
       "is not a JSON list of strings"},
      {Template({{"tether.dev/inject-mode", "sidecar"},
                 {"tether.dev/code-dir", "code"}}),
       "metadata.annotations[\"tether.dev/code-dir\"]: \"code\" is not an "
       "absolute directory"},
      {Template({{"tether.dev/inject-mode", "sidecar"},
                 {"tether.dev/app-port", "http"}}),
       "metadata.annotations[\"tether.dev/app-port\"]: \"http\" is not a "
       "port (1-65535)"},
      {Template({{"tether.dev/inject-mode", "sidecar"},
                 {"tether.dev/proxy-port", "9000"}}),
       "metadata.annotations[\"tether.dev/proxy-port\"]: needs "
       "tether.dev/app-port"},
      {Template({{"tether.dev/inject-mode", "sidecar"},
                 {"tether.dev/app-port", "8081"}}),
       "metadata.annotations[\"tether.dev/app-port\"]: 8081 is the agent's "
       "health port"},
      {Template({{"tether.dev/app-port", "8000"}}),
       "metadata.annotations[\"tether.dev/app-port\"]: only for "
       "tether.dev/inject-mode: sidecar"},
      {Template({{"tether.dev/container", "web"}}),
       "metadata.annotations[\"tether.dev/container\"]: no container \"web\"; "
       "the pod's containers are app"},
      {Template({{"tether.dev/service", "Hello"}}),
       "metadata.annotations[\"tether.dev/service\"]: \"Hello\" is not a "
       "valid service name"},
      {Template({{"tether.dev/token-secret", "a_b"}}),
       "metadata.annotations[\"tether.dev/token-secret\"]: \"a_b\" is not a "
       "Secret name"},
      {Template({{"tether.dev/pod-security", "privileged"}}),
       "metadata.annotations[\"tether.dev/pod-security\"]: \"privileged\" is "
       "not \"restricted\" or \"baseline\""},
  };
  for (const auto& [pod, want] : cases) {
    const absl::Status status = InjectPod(pod, TestInjectorConfig()).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << want;
    EXPECT_TRUE(absl::StartsWith(status.message(), want))
        << status.message() << "\nwant: " << want;
  }
  json label = Template();
  label["metadata"]["labels"]["tether.dev/inject"] = "yes";
  EXPECT_EQ(InjectPod(label, TestInjectorConfig()).status().message(),
            "metadata.labels[\"tether.dev/inject\"]: \"yes\" is not \"true\" "
            "or \"false\"");
  json unnamed = Template();
  unnamed["metadata"]["labels"].erase("app.kubernetes.io/name");
  EXPECT_TRUE(absl::StartsWith(
      InjectPod(unnamed, TestInjectorConfig()).status().message(),
      "metadata.annotations[\"tether.dev/service\"]: required"));
  json mounts = Template();
  mounts["spec"]["containers"][0]["volumeMounts"] =
      json::parse(R"([{"name": "data", "mountPath": "/var/lib/tether"}])");
  EXPECT_EQ(InjectPod(mounts, TestInjectorConfig()).status().message(),
            "spec.containers[name=app].volumeMounts: /var/lib/tether is where "
            "Tether mounts the agent");
  InjectorConfig config = TestInjectorConfig();
  config.agent_image.clear();
  EXPECT_EQ(InjectPod(Template(), config).status().message(),
            "InjectorConfig.agent_image: required");
}

}  // namespace
}  // namespace tether::sidecar
