#include "kube/pod_mutation.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/command_flag.h"
#include "kube/json_fields.h"
#include "servicespec/validate.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

// Probe timings from the inference-service seed: liveness waits for start-up
// and restarts after 30 s of failures; readiness reacts twice as fast so a
// sick replica leaves the Service before it is restarted.
constexpr int kLivenessInitialDelay = 30;
constexpr int kLivenessPeriod = 10;
constexpr int kLivenessFailures = 3;
constexpr int kReadinessInitialDelay = 10;
constexpr int kReadinessPeriod = 5;
constexpr int kReadinessFailures = 2;
// A native sidecar is started when its startup probe passes, i.e. when the
// first sync is done (readiness); the app waits up to 5 minutes for it.
constexpr int kStartupPeriod = 2;
constexpr int kStartupFailures = 150;

json Probe(const char* path, int initial_delay, int period, int failures) {
  json probe = {{"httpGet", {{"path", path}, {"port", "health"}}},
                {"periodSeconds", period},
                {"timeoutSeconds", 2},
                {"failureThreshold", failures}};
  if (initial_delay > 0) probe["initialDelaySeconds"] = initial_delay;
  return probe;
}

// Puts `entries` before what `object[key]` holds (creating the list).
void Prepend(json& object, const char* key, json entries) {
  if (object.contains(key) && object[key].is_array()) {
    for (json& entry : object[key]) entries.push_back(std::move(entry));
  }
  object[key] = std::move(entries);
}

json FieldRef(const char* path) {
  return {{"fieldRef", {{"fieldPath", path}}}};
}

}  // namespace

bool SetsEnv(const json& container, const std::string& name) {
  if (!container.contains("env") || !container["env"].is_array()) return false;
  for (const json& var : container["env"]) {
    if (var.is_object() && var.value("name", "") == name) return true;
  }
  return false;
}

json AgentEnv(const AgentOptions& options) {
  std::vector<std::pair<std::string, json>> vars = {
      // The agent names its replica after the pod.
      {"TETHER_POD_NAME", FieldRef("metadata.name")},
      // tetherd dials the agent at the pod IP.
      {"TETHER_POD_IP", FieldRef("status.podIP")},
      // Conventional downward-API names the agent reads to put k8s.pod.name
      // and k8s.namespace.name on its OTLP activity reports.
      {"POD_NAME", FieldRef("metadata.name")},
      {"POD_NAMESPACE", FieldRef("metadata.namespace")},
  };
  if (!options.token_secret.empty()) {
    vars.emplace_back(
        "TETHER_SERVICE_TOKEN",
        json{{"secretKeyRef",
              {{"name", options.token_secret}, {"key", "token"}}}});
  }
  json env = json::array();
  for (auto& [name, value_from] : vars) {
    env.push_back({{"name", name}, {"valueFrom", std::move(value_from)}});
  }
  return env;
}

namespace {

json AgentArgs(const AgentOptions& options) {
  json args = json::array(
      {absl::StrCat("--gateway=", options.tetherd_address),
       absl::StrCat("--service=", options.service),
       "--replica=$(TETHER_POD_NAME)", absl::StrCat("--workdir=", kWorkDir),
       absl::StrCat("--listen=0.0.0.0:", options.agent_port),
       "--advertise_host=$(TETHER_POD_IP)",
       // What the probes hit, on the `health` port.
       absl::StrCat("--health_listen=0.0.0.0:", options.health_port)});
  if (!options.app_command.empty()) {
    args.push_back(
        absl::StrCat("--app_command=", EncodeCommand(options.app_command)));
  }
  if (!options.tls_secret.empty()) {
    args.push_back(absl::StrCat("--tls_cert_file=", kTlsDir, "/tls.crt"));
    args.push_back(absl::StrCat("--tls_key_file=", kTlsDir, "/tls.key"));
    args.push_back(absl::StrCat("--tls_ca_file=", kTlsDir, "/ca.crt"));
  }
  return args;
}

// The agents' TLS Secret as a volume of the pod and a mount of `agent`.
void MountTls(json& pod_spec, json& agent, const AgentOptions& options) {
  if (options.tls_secret.empty()) return;
  agent["volumeMounts"].push_back(
      {{"name", kTlsVolume}, {"mountPath", kTlsDir}, {"readOnly", true}});
  Prepend(pod_spec, "volumes",
          json::array({{{"name", kTlsVolume},
                        {"secret", {{"secretName", options.tls_secret}}}}}));
}

// Command, args, ports, env and probes of an agent container.
void RunAgent(json& container, const AgentOptions& options) {
  // The agent comes from the bundle, so it runs in any image; it starts the
  // user's runtime (python or native) in worker processes.
  container["command"] = json::array({kAgentBinary});
  container["args"] = AgentArgs(options);
  Prepend(container, "ports",
          json::array({{{"name", "agent"},
                        {"containerPort", options.agent_port},
                        {"protocol", "TCP"}},
                       {{"name", "health"},
                        {"containerPort", options.health_port},
                        {"protocol", "TCP"}}}));
  json env = json::array();
  for (json& var : AgentEnv(options)) {
    if (!SetsEnv(container, var["name"])) env.push_back(std::move(var));
  }
  Prepend(container, "env", std::move(env));
  container["livenessProbe"] = Probe("/healthz", kLivenessInitialDelay,
                                     kLivenessPeriod, kLivenessFailures);
  container["readinessProbe"] = Probe("/readyz", kReadinessInitialDelay,
                                      kReadinessPeriod, kReadinessFailures);
  // A crash's last log lines land in lastState.terminated.message, so a
  // crash loop reaches `tether deploy` with the reason, no log RBAC.
  container["terminationMessagePolicy"] = "FallbackToLogsOnError";
}

json EmptyDir(const char* name) {
  return {{"name", name}, {"emptyDir", json::object()}};
}

json WorkMount(const std::string& path, bool read_only) {
  json mount = {{"name", kWorkVolume}, {"mountPath", path}};
  if (read_only) mount["readOnly"] = true;
  return mount;
}

}  // namespace

void WrapContainer(json& pod_spec, size_t container,
                   const AgentOptions& options) {
  json& target = pod_spec["containers"][container];
  Prepend(target, "volumeMounts",
          json::array({{{"name", kAgentVolume},
                        {"mountPath", kAgentDir},
                        {"readOnly", true}},
                       WorkMount(kWorkDir, /*read_only=*/false)}));
  RunAgent(target, options);
  target.erase("startupProbe");
  // Copies the self-contained agent into the shared volume; runs in our
  // image, so nothing is assumed about the user's (no shell, no tar).
  json install = {
      {"name", kAgentInstallContainer},
      {"image", options.agent_image},
      {"command",
       json::array({"cp", "-a", absl::StrCat(options.agent_source_dir, "/."),
                    absl::StrCat(kAgentDir, "/")})},
      {"volumeMounts",
       json::array({{{"name", kAgentVolume}, {"mountPath", kAgentDir}}})},
  };
  Prepend(pod_spec, "initContainers", json::array({std::move(install)}));
  Prepend(pod_spec, "volumes",
          json::array({EmptyDir(kAgentVolume), EmptyDir(kWorkVolume)}));
  MountTls(pod_spec, target, options);
}

void AddAgentSidecar(json& pod_spec, size_t app, const AgentOptions& options,
                     const SidecarOptions& sidecar) {
  // The agent image links the bundle at kAgentDir, so no install step.
  json agent = {{"name", kMainContainer},
                {"image", options.agent_image},
                {"volumeMounts",
                 json::array({WorkMount(kWorkDir, /*read_only=*/false)})}};
  RunAgent(agent, options);
  agent["args"].push_back("--sidecar");
  if (!sidecar.reload_command.empty()) {
    agent["args"].push_back(absl::StrCat(
        "--reload_command=", EncodeCommand(sidecar.reload_command)));
  }
  if (sidecar.app_port != 0) {
    agent["args"].push_back(absl::StrCat("--app_port=", sidecar.app_port));
    agent["args"].push_back(
        absl::StrCat("--proxy_listen=0.0.0.0:", sidecar.proxy_port));
    agent["ports"].push_back({{"name", kProxyPortName},
                              {"containerPort", sidecar.proxy_port},
                              {"protocol", "TCP"}});
  }
  json& app_container = pod_spec["containers"][app];
  Prepend(app_container, "volumeMounts",
          json::array({WorkMount(sidecar.code_dir, /*read_only=*/true)}));
  if (!SetsEnv(app_container, kCodeDirEnv)) {
    Prepend(
        app_container, "env",
        json::array({{{"name", kCodeDirEnv},
                      {"value", absl::StrCat(sidecar.code_dir, "/current")}}}));
  }
  MountTls(pod_spec, agent, options);
  if (sidecar.native) {
    agent["restartPolicy"] = "Always";
    agent["startupProbe"] =
        Probe("/readyz", 0, kStartupPeriod, kStartupFailures);
    Prepend(pod_spec, "initContainers", json::array({std::move(agent)}));
  } else {
    Prepend(pod_spec, "containers", json::array({std::move(agent)}));
  }
  Prepend(pod_spec, "volumes", json::array({EmptyDir(kWorkVolume)}));
}

std::string AgentAlreadyThere(const json& metadata, const json& spec) {
  if (Field(Field(metadata, "annotations"), kStatusAnnotation).is_string()) {
    return absl::StrCat("already injected (", kStatusAnnotation, ")");
  }
  for (const char* list : {"initContainers", "containers"}) {
    const json& containers = Field(spec, list);
    if (!containers.is_array()) continue;
    for (const json& c : containers) {
      const std::string name = StringField(c, "name");
      const json& command = Field(c, "command");
      const bool runs_agent =
          command.is_array() && !command.empty() && command[0] == kAgentBinary;
      if (name == kMainContainer || name == kAgentInstallContainer ||
          runs_agent) {
        return absl::StrCat("already runs the agent (spec.", list,
                            "[name=", name, "])");
      }
    }
  }
  return "";
}

absl::StatusOr<std::string> InjectedServiceName(const json& metadata) {
  const auto path = [](const char* map, absl::string_view key) {
    return absl::StrCat("metadata.", map, "[\"", key, "\"]");
  };
  std::string name =
      StringField(Field(metadata, "annotations"), kServiceAnnotation);
  std::string source = path("annotations", kServiceAnnotation);
  for (const char* label : {"app.kubernetes.io/name", "app"}) {
    if (!name.empty()) break;
    name = StringField(Field(metadata, "labels"), label);
    source = path("labels", label);
  }
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path("annotations", kServiceAnnotation),
        ": required: name the service the agent serves (or label the pod "
        "app.kubernetes.io/name)"));
  }
  const absl::Status valid = servicespec::ValidateServiceName(name);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", valid.message()));
  }
  return name;
}

}  // namespace tether::kube
