#include "kube/pod_mutation.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

AgentOptions Options() {
  AgentOptions options;
  options.agent_image = "ghcr.io/tether/agent:1";
  options.tetherd_address = "tetherd.tether-system.svc:7700";
  options.service = "hello";
  return options;
}

// A pod spec with fields the mutation does not know and must keep.
json UserPodSpec() {
  return json::parse(R"({
    "containers": [{
      "name": "app",
      "image": "python:3.11",
      "command": ["python", "serve.py"],
      "env": [{"name": "POD_NAME", "value": "mine"}, {"name": "A", "value": "1"}],
      "ports": [{"containerPort": 8000}],
      "startupProbe": {"tcpSocket": {"port": 8000}},
      "volumeMounts": [{"name": "data", "mountPath": "/data"}],
      "futureField": {"x": 1}
    }],
    "initContainers": [{"name": "migrate", "image": "python:3.11"}],
    "volumes": [{"name": "data", "emptyDir": {}}],
    "someNewPodField": true
  })");
}

std::vector<std::string> Names(const json& list) {
  std::vector<std::string> names;
  for (const json& entry : list) names.push_back(entry["name"]);
  return names;
}

TEST(WrapContainerTest, AgentReplacesTheProcessAndTetherGoesFirst) {
  json spec = UserPodSpec();
  WrapContainer(spec, 0, Options());
  const json& app = spec["containers"][0];
  EXPECT_EQ(app["command"], json::array({"/tether/bin/tether-agent"}));
  EXPECT_EQ(app["args"][1], "--service=hello");
  EXPECT_EQ(app["image"], "python:3.11");
  EXPECT_EQ(app["futureField"], json({{"x", 1}}));
  EXPECT_TRUE(spec["someNewPodField"]);
  EXPECT_FALSE(app.contains("startupProbe"));
  EXPECT_EQ(app["readinessProbe"]["httpGet"]["path"], "/readyz");
  // The user's POD_NAME is kept, and ours left out.
  EXPECT_EQ(Names(app["env"]),
            (std::vector<std::string>{"TETHER_POD_NAME", "TETHER_POD_IP",
                                      "POD_NAMESPACE", "POD_NAME", "A"}));
  EXPECT_EQ(app["env"][3]["value"], "mine");
  EXPECT_EQ(app["ports"][0]["name"], "agent");
  EXPECT_EQ(app["ports"][2], json({{"containerPort", 8000}}));
  EXPECT_EQ(Names(app["volumeMounts"]),
            (std::vector<std::string>{"tether-agent", "tether-work", "data"}));
  EXPECT_EQ(Names(spec["initContainers"]),
            (std::vector<std::string>{"tether-agent-install", "migrate"}));
  EXPECT_EQ(spec["initContainers"][0]["command"],
            json::array({"cp", "-a", "/opt/tether/.", "/tether/"}));
  EXPECT_EQ(Names(spec["volumes"]),
            (std::vector<std::string>{"tether-agent", "tether-work", "data"}));
}

TEST(WrapContainerTest, TokenVariableOnlyWithASecret) {
  AgentOptions options = Options();
  EXPECT_EQ(Names(AgentEnv(options)),
            (std::vector<std::string>{"TETHER_POD_NAME", "TETHER_POD_IP",
                                      "POD_NAME", "POD_NAMESPACE"}));
  options.token_secret = "hello-tether-token";
  EXPECT_EQ(AgentEnv(options).back()["valueFrom"]["secretKeyRef"],
            json({{"name", "hello-tether-token"}, {"key", "token"}}));
}

TEST(AddAgentSidecarTest, NativeSidecarStartsFirstAndHoldsTheAppBack) {
  json spec = UserPodSpec();
  SidecarOptions sidecar;
  sidecar.code_dir = "/app/code";
  sidecar.reload_command = {"kill", "-HUP", "1"};
  AddAgentSidecar(spec, 0, Options(), sidecar);
  EXPECT_EQ(Names(spec["initContainers"]),
            (std::vector<std::string>{"tether", "migrate"}));
  const json& agent = spec["initContainers"][0];
  EXPECT_EQ(agent["restartPolicy"], "Always");
  EXPECT_EQ(agent["image"], "ghcr.io/tether/agent:1");
  EXPECT_EQ(agent["startupProbe"]["httpGet"]["path"], "/readyz");
  EXPECT_EQ(agent["args"].back(), R"(--reload_command=["kill","-HUP","1"])");
  const json& app = spec["containers"][0];
  // The app keeps its process and probes, and reads the code.
  EXPECT_EQ(app["command"], json::array({"python", "serve.py"}));
  EXPECT_TRUE(app.contains("startupProbe"));
  EXPECT_EQ(app["volumeMounts"][0], json({{"name", "tether-work"},
                                          {"mountPath", "/app/code"},
                                          {"readOnly", true}}));
  EXPECT_EQ(Names(spec["volumes"]),
            (std::vector<std::string>{"tether-work", "data"}));
}

TEST(AddAgentSidecarTest, ClassicSidecarIsTheFirstContainer) {
  json spec = UserPodSpec();
  SidecarOptions sidecar;
  sidecar.native = false;
  AddAgentSidecar(spec, 0, Options(), sidecar);
  EXPECT_EQ(Names(spec["containers"]),
            (std::vector<std::string>{"tether", "app"}));
  EXPECT_FALSE(spec["containers"][0].contains("restartPolicy"));
  EXPECT_EQ(spec["containers"][0]["args"].back(), "--sidecar");
  EXPECT_EQ(Names(spec["initContainers"]),
            (std::vector<std::string>{"migrate"}));
  EXPECT_EQ(spec["containers"][1]["volumeMounts"][0]["mountPath"],
            "/var/lib/tether");
}

TEST(AgentAlreadyThereTest, SaysWhy) {
  const json no_agent = json::parse(R"({"containers": [{"name": "app"}]})");
  EXPECT_EQ(AgentAlreadyThere(json::object(), no_agent), "");
  EXPECT_EQ(AgentAlreadyThere(
                json::parse(R"({"annotations": {"tether.dev/status": "{}"}})"),
                no_agent),
            "already injected (tether.dev/status)");
  EXPECT_EQ(
      AgentAlreadyThere(json::object(), json::parse(R"({"initContainers": [
                                  {"name": "tether-agent-install"}]})")),
      "already runs the agent (spec.initContainers"
      "[name=tether-agent-install])");
  EXPECT_EQ(AgentAlreadyThere(json::object(), json::parse(R"({"containers": [
                {"name": "x", "command": ["/tether/bin/tether-agent"]}]})")),
            "already runs the agent (spec.containers[name=x])");
}

TEST(InjectedServiceNameTest, AnnotationThenLabels) {
  EXPECT_EQ(*InjectedServiceName(json::parse(R"({
                "annotations": {"tether.dev/service": "a"},
                "labels": {"app.kubernetes.io/name": "b", "app": "c"}})")),
            "a");
  EXPECT_EQ(*InjectedServiceName(json::parse(
                R"({"labels": {"app.kubernetes.io/name": "b", "app": "c"}})")),
            "b");
  EXPECT_EQ(*InjectedServiceName(json::parse(R"({"labels": {"app": "c"}})")),
            "c");
  EXPECT_EQ(InjectedServiceName(json::object()).status().message(),
            "metadata.annotations[\"tether.dev/service\"]: required: name the "
            "service the agent serves (or label the pod "
            "app.kubernetes.io/name)");
  EXPECT_TRUE(absl::StartsWith(
      InjectedServiceName(json::parse(R"({"labels": {"app": "Bad_Name"}})"))
          .status()
          .message(),
      "metadata.labels[\"app\"]: "));
}

}  // namespace
}  // namespace tether::kube
