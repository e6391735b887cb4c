#include "sidecar/injector.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kube/json_fields.h"
#include "kube/names.h"
#include "kube/pod_mutation.h"
#include "kube/pod_security.h"

namespace tether::sidecar {
namespace {

using json = nlohmann::json;
using kube::Field;
using kube::StringField;

// Kubernetes' own name for a pod's main container (kubectl logs, exec).
constexpr char kDefaultContainerAnnotation[] =
    "kubectl.kubernetes.io/default-container";

// Variables the agent needs as Tether sets them; POD_NAME and POD_NAMESPACE
// are only conventions, so a user's value is kept (as in rendered pods).
constexpr const char* kReservedEnv[] = {"TETHER_POD_NAME", "TETHER_POD_IP",
                                        "TETHER_SERVICE_TOKEN"};

absl::Status Invalid(absl::string_view field, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", reason));
}

std::string AnnotationPath(absl::string_view key) {
  return absl::StrCat("metadata.annotations[\"", key, "\"]");
}

std::string ContainerPath(absl::string_view list, absl::string_view name) {
  return absl::StrCat("spec.", list, "[name=", name, "]");
}

// What the pod asks for, read from its annotations and labels.
struct Request {
  bool sidecar = false;
  // Wrap mode: the container's program runs on under the agent.
  bool keep_program = false;
  // kPodSecurityAnnotation is not "baseline".
  bool restricted = true;
  // The pod's restartPolicy, when it must complete ("Never", "OnFailure");
  // empty otherwise.
  std::string must_complete;
  std::string container;
  kube::AgentOptions agent;
  kube::SidecarOptions sidecar_options;
};

std::vector<std::string> ContainerNames(const json& containers) {
  std::vector<std::string> names;
  for (const json& c : containers) names.push_back(StringField(c, "name"));
  return names;
}

absl::StatusOr<std::string> TargetContainer(const json& annotations,
                                            const json& containers) {
  const std::vector<std::string> names = ContainerNames(containers);
  const auto has = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  const std::string listed =
      absl::StrCat("the pod's containers are ", absl::StrJoin(names, ", "));
  const std::string named = StringField(annotations, kContainerAnnotation);
  if (!named.empty()) {
    if (has(named)) return named;
    return Invalid(AnnotationPath(kContainerAnnotation),
                   absl::StrCat("no container \"", named, "\"; ", listed));
  }
  if (names.size() == 1) return names[0];
  const std::string fallback =
      StringField(annotations, kDefaultContainerAnnotation);
  if (!fallback.empty() && has(fallback)) return fallback;
  return Invalid(
      AnnotationPath(kContainerAnnotation),
      absl::StrCat("required: the pod has ", names.size(),
                   " containers; name the one to inject (", listed, ")"));
}

absl::StatusOr<Request> ReadRequest(const json& metadata, const json& spec,
                                    const InjectorConfig& config) {
  const json& annotations = Field(metadata, "annotations");
  Request request;
  const std::string mode = StringField(annotations, kModeAnnotation);
  if (mode == "sidecar") {
    request.sidecar = true;
  } else if (!mode.empty() && mode != "wrap") {
    return Invalid(
        AnnotationPath(kModeAnnotation),
        absl::StrCat("\"", mode, "\" is not a mode (wrap or sidecar)"));
  }
  const std::string security = StringField(annotations, kPodSecurityAnnotation);
  if (!security.empty() && security != "restricted" && security != "baseline") {
    return Invalid(AnnotationPath(kPodSecurityAnnotation),
                   absl::StrCat("\"", security,
                                "\" is not \"restricted\" or \"baseline\""));
  }
  request.restricted = security != "baseline";
  const std::string keep = StringField(annotations, kKeepProgramAnnotation);
  if (!keep.empty() && keep != "true" && keep != "false") {
    return Invalid(AnnotationPath(kKeepProgramAnnotation),
                   absl::StrCat("\"", keep, "\" is not \"true\" or \"false\""));
  }
  // A pod that must complete keeps its work, unless told otherwise.
  const std::string restart = StringField(spec, "restartPolicy");
  if (restart != "Always") request.must_complete = restart;
  request.keep_program =
      keep.empty() ? !request.must_complete.empty() : keep == "true";
  if (request.sidecar && !keep.empty()) {
    return Invalid(AnnotationPath(kKeepProgramAnnotation),
                   absl::StrCat("only for ", kModeAnnotation, ": wrap"));
  }
  for (const char* key : {kCodeDirAnnotation, kReloadCommandAnnotation,
                          kAppPortAnnotation, kProxyPortAnnotation}) {
    if (!request.sidecar && Field(annotations, key).is_string()) {
      return Invalid(AnnotationPath(key),
                     absl::StrCat("only for ", kModeAnnotation, ": sidecar"));
    }
  }
  ASSIGN_OR_RETURN(request.container,
                   TargetContainer(annotations, Field(spec, "containers")));
  ASSIGN_OR_RETURN(request.agent.service, kube::InjectedServiceName(metadata));
  request.agent.agent_image = config.agent_image;
  request.agent.agent_source_dir = config.agent_source_dir;
  request.agent.tetherd_address = config.tetherd_address;
  request.agent.agent_port = config.agent_port;
  request.agent.health_port = config.health_port;
  request.agent.tls_secret = config.agent_tls_secret;
  request.agent.token_secret = StringField(annotations, kTokenSecretAnnotation);
  if (!request.agent.token_secret.empty() &&
      !kube::IsDnsSubdomain(request.agent.token_secret)) {
    return Invalid(AnnotationPath(kTokenSecretAnnotation),
                   absl::StrCat("\"", request.agent.token_secret,
                                "\" is not a Secret name"));
  }
  request.sidecar_options.native = config.native_sidecars;
  const std::string code_dir = StringField(annotations, kCodeDirAnnotation);
  if (!code_dir.empty()) {
    if (code_dir[0] != '/' || code_dir == "/" ||
        absl::StrContains(code_dir, "..")) {
      return Invalid(AnnotationPath(kCodeDirAnnotation),
                     absl::StrCat("\"", code_dir,
                                  "\" is not an absolute directory below /"));
    }
    request.sidecar_options.code_dir = code_dir;
  }
  ASSIGN_OR_RETURN(request.sidecar_options.reload_command,
                   ReloadCommandAnnotation(annotations));
  ASSIGN_OR_RETURN(request.sidecar_options.app_port,
                   PortAnnotation(annotations, kAppPortAnnotation));
  ASSIGN_OR_RETURN(const int proxy_port,
                   PortAnnotation(annotations, kProxyPortAnnotation));
  if (proxy_port != 0) {
    if (request.sidecar_options.app_port == 0) {
      return Invalid(
          AnnotationPath(kProxyPortAnnotation),
          absl::StrCat("needs ", kAppPortAnnotation, ": the port it proxies"));
    }
    request.sidecar_options.proxy_port = proxy_port;
  }
  return request;
}

// The API server only sends well-typed pods, but `tether inject` reads
// files and the mutation indexes into what it changes.
absl::Status CheckShape(const json& metadata, const json& spec) {
  if (!metadata.is_object() && !metadata.is_null()) {
    return Invalid("metadata", "not an object");
  }
  for (const char* map : {"labels", "annotations"}) {
    const json& value = Field(metadata, map);
    if (!value.is_object() && !value.is_null()) {
      return Invalid(absl::StrCat("metadata.", map), "not an object");
    }
  }
  if (!spec.is_object() || !Field(spec, "containers").is_array() ||
      Field(spec, "containers").empty()) {
    return Invalid("spec.containers", "required");
  }
  for (const char* list : {"initContainers", "volumes"}) {
    const json& value = Field(spec, list);
    if (!value.is_array() && !value.is_null()) {
      return Invalid(absl::StrCat("spec.", list), "not a list");
    }
  }
  for (const char* list : {"initContainers", "containers"}) {
    const json& containers = Field(spec, list);
    if (containers.is_null()) continue;
    for (size_t i = 0; i < containers.size(); ++i) {
      const std::string path = absl::StrCat("spec.", list, "[", i, "]");
      if (!containers[i].is_object()) return Invalid(path, "not an object");
      for (const char* field : {"env", "ports", "volumeMounts"}) {
        const json& value = Field(containers[i], field);
        if (!value.is_array() && !value.is_null()) {
          return Invalid(absl::StrCat(path, ".", field), "not a list");
        }
      }
    }
  }
  return absl::OkStatus();
}

// In a pod that must complete, a wrapped container's own program keeps
// running under the agent, which exits with it: the pod completes with the
// program's result instead of serving forever.
absl::StatusOr<std::vector<std::string>> KeptProgram(const json& container,
                                                     const std::string& name) {
  const json& command = Field(container, "command");
  if (!command.is_array() || command.empty()) {
    return Invalid(
        absl::StrCat(ContainerPath("containers", name), ".command"),
        absl::StrCat("required when the container's program runs on under "
                     "the agent (a pod that must complete, or ",
                     kKeepProgramAnnotation,
                     "): an image's entrypoint cannot be seen at admission"));
  }
  std::vector<std::string> program;
  for (const char* field : {"command", "args"}) {
    const json& words = Field(container, field);
    if (!words.is_array()) continue;
    for (const json& word : words) {
      if (!word.is_string()) {
        return Invalid(
            absl::StrCat(ContainerPath("containers", name), ".", field),
            "not a list of strings");
      }
      program.push_back(word.get<std::string>());
    }
  }
  return program;
}

// Names, ports and paths the injection needs must be free.
absl::Status CheckConflicts(const json& spec, const Request& request,
                            const InjectorConfig& config) {
  std::vector<std::pair<const char*, int>> agent_ports = {
      {"gRPC", config.agent_port}, {"health", config.health_port}};
  if (request.sidecar && request.sidecar_options.app_port != 0) {
    agent_ports.emplace_back("proxy", request.sidecar_options.proxy_port);
    for (const auto& [what, ours] : agent_ports) {
      if (request.sidecar_options.app_port == ours) {
        return Invalid(AnnotationPath(kAppPortAnnotation),
                       absl::StrCat(ours, " is the agent's ", what, " port"));
      }
    }
  }
  for (const char* list : {"initContainers", "containers"}) {
    const json& containers = Field(spec, list);
    if (!containers.is_array()) continue;
    for (const json& c : containers) {
      const json& ports = Field(c, "ports");
      if (!ports.is_array()) continue;
      for (const json& port : ports) {
        const json& number = Field(port, "containerPort");
        for (const auto& [what, ours] : agent_ports) {
          if (number == ours) {
            return Invalid(
                absl::StrCat(ContainerPath(list, StringField(c, "name")),
                             ".ports"),
                absl::StrCat(ours, " is the agent's ", what,
                             " port (the pod shares one network; the "
                             "injector's agent ports are cluster settings)"));
          }
        }
      }
    }
  }
  const json& volumes = Field(spec, "volumes");
  if (volumes.is_array()) {
    for (const json& volume : volumes) {
      const std::string name = StringField(volume, "name");
      if (name == kube::kAgentVolume || name == kube::kWorkVolume) {
        return Invalid(absl::StrCat("spec.volumes[name=", name, "]"),
                       "the name is Tether's");
      }
    }
  }
  const json* target = nullptr;
  for (const json& c : spec["containers"]) {
    if (StringField(c, "name") == request.container) target = &c;
  }
  const std::string target_path =
      ContainerPath("containers", request.container);
  std::vector<std::string> paths = {request.sidecar_options.code_dir};
  if (!request.sidecar) paths = {kube::kAgentDir, kube::kWorkDir};
  const json& mounts = Field(*target, "volumeMounts");
  if (mounts.is_array()) {
    for (const json& mount : mounts) {
      const std::string path = StringField(mount, "mountPath");
      if (std::find(paths.begin(), paths.end(), path) != paths.end()) {
        return Invalid(
            absl::StrCat(target_path, ".volumeMounts"),
            absl::StrCat(path, " is where Tether mounts ",
                         request.sidecar ? "the code" : "the agent"));
      }
    }
  }
  if (request.sidecar) return absl::OkStatus();
  // The agent needs its own values; a user's different one would be used.
  json agent_env = json::object();
  for (const json& var : kube::AgentEnv(request.agent)) {
    agent_env[var["name"].get<std::string>()] = var;
  }
  const json& env = Field(*target, "env");
  if (!env.is_array()) return absl::OkStatus();
  for (const json& var : env) {
    const std::string name = StringField(var, "name");
    for (const char* reserved : kReservedEnv) {
      if (name != reserved) continue;
      if (agent_env.contains(name) && agent_env[name] == var) continue;
      return Invalid(absl::StrCat(target_path, ".env[name=", name, "]"),
                     "set by Tether for the agent; remove it");
    }
  }
  return absl::OkStatus();
}

// The fields of the target container WrapContainer replaces or removes.
std::vector<std::string> Replaced(const json& container) {
  std::vector<std::string> fields;
  for (const char* field :
       {"command", "args", "livenessProbe", "readinessProbe", "startupProbe",
        "terminationMessagePolicy"}) {
    if (container.contains(field)) fields.push_back(field);
  }
  return fields;
}

}  // namespace

absl::StatusOr<int> PortAnnotation(const json& annotations, const char* key) {
  const std::string text = StringField(annotations, key);
  if (text.empty()) return 0;
  int port = 0;
  if (!absl::SimpleAtoi(text, &port) || port < 1 || port > 65535) {
    return Invalid(AnnotationPath(key),
                   absl::StrCat("\"", text, "\" is not a port (1-65535)"));
  }
  return port;
}

absl::StatusOr<std::vector<std::string>> ReloadCommandAnnotation(
    const json& annotations) {
  const std::string text = StringField(annotations, kReloadCommandAnnotation);
  if (text.empty()) return std::vector<std::string>();
  const std::string path = AnnotationPath(kReloadCommandAnnotation);
  const json command = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const absl::Status bad =
      Invalid(path, absl::StrCat("\"", text,
                                 "\" is not a JSON list of strings, e.g. "
                                 "[\"kill\", \"-HUP\", \"1\"]"));
  if (!command.is_array() || command.empty()) return bad;
  std::vector<std::string> out;
  for (const json& word : command) {
    if (!word.is_string() || word.get<std::string>().empty()) return bad;
    out.push_back(word.get<std::string>());
  }
  return out;
}

absl::Status ValidateInjectorConfig(const InjectorConfig& config) {
  if (config.agent_image.empty()) {
    return Invalid("InjectorConfig.agent_image", "required");
  }
  if (config.tetherd_address.empty()) {
    return Invalid("InjectorConfig.tetherd_address", "required");
  }
  for (const auto& [field, port] :
       {std::make_pair("agent_port", config.agent_port),
        std::make_pair("health_port", config.health_port)}) {
    if (port < 1 || port > 65535) {
      return Invalid(absl::StrCat("InjectorConfig.", field),
                     absl::StrCat(port, " is not a port (1-65535)"));
    }
  }
  if (config.agent_port == config.health_port) {
    return Invalid("InjectorConfig.health_port", "must differ from agent_port");
  }
  return absl::OkStatus();
}

absl::StatusOr<Injection> InjectPod(const json& pod,
                                    const InjectorConfig& config) {
  RETURN_IF_ERROR(ValidateInjectorConfig(config));
  Injection result;
  result.pod = pod;
  if (!pod.is_object()) return Invalid("pod", "not an object");
  const json& metadata = Field(pod, "metadata");
  const json& spec = Field(pod, "spec");
  const std::string inject =
      StringField(Field(metadata, "labels"), kInjectLabel);
  if (inject.empty() || inject == "false") {
    result.skipped = absl::StrCat("not asked (label ", kInjectLabel,
                                  inject.empty() ? " absent)" : ": \"false\")");
    return result;
  }
  if (inject != "true") {
    return Invalid(
        absl::StrCat("metadata.labels[\"", kInjectLabel, "\"]"),
        absl::StrCat("\"", inject, "\" is not \"true\" or \"false\""));
  }
  result.opted_in = true;
  RETURN_IF_ERROR(CheckShape(metadata, spec));
  result.skipped = kube::AgentAlreadyThere(metadata, spec);
  if (!result.skipped.empty()) return result;
  if (Field(spec, "hostNetwork") == true) {
    result.skipped = "hostNetwork pod";
    result.warnings.push_back(
        absl::StrCat(kInjectLabel,
                     ": hostNetwork pods are not injected (the agent's ports "
                     "would be the node's)"));
    return result;
  }
  ASSIGN_OR_RETURN(const Request request, ReadRequest(metadata, spec, config));
  RETURN_IF_ERROR(CheckConflicts(spec, request, config));
  if (request.sidecar && !config.native_sidecars &&
      !request.must_complete.empty()) {
    return Invalid(AnnotationPath(kModeAnnotation),
                   absl::StrCat("sidecar mode in a pod with restartPolicy ",
                                request.must_complete,
                                " needs native sidecars (Kubernetes 1.29+): a "
                                "classic sidecar never exits, so the pod "
                                "would never complete; use wrap mode"));
  }

  size_t index = 0;
  while (StringField(spec["containers"][index], "name") != request.container) {
    ++index;
  }
  json status = {{"mode", request.sidecar ? "sidecar" : "wrap"},
                 {"container", request.container},
                 {"service", request.agent.service}};
  json& new_spec = result.pod["spec"];
  if (request.sidecar) {
    kube::AddAgentSidecar(new_spec, index, request.agent,
                          request.sidecar_options);
    status[config.native_sidecars ? "initContainers" : "containers"] =
        json::array({kube::kMainContainer});
    status["volumes"] = json::array({kube::kWorkVolume});
    if (!kube::SetsEnv(spec["containers"][index], kube::kCodeDirEnv)) {
      status["env"] = json::array({kube::kCodeDirEnv});
    }
    if (request.sidecar_options.app_port == 0) {
      result.warnings.push_back(absl::StrCat(
          kAppPortAnnotation,
          " is not set: the app's traffic is not seen, so the inactivity "
          "TTL would scale it down while it serves"));
    }
    if (!config.native_sidecars) {
      result.warnings.push_back(absl::StrCat(
          kModeAnnotation,
          ": without native sidecars (Kubernetes < 1.29) the app may start "
          "before the agent's first code sync"));
    }
  } else {
    const json& target = spec["containers"][index];
    kube::AgentOptions agent = request.agent;
    if (request.keep_program) {
      ASSIGN_OR_RETURN(agent.app_command,
                       KeptProgram(target, request.container));
    }
    status["replaced"] = Replaced(target);
    const json& before = Field(target, "env");
    kube::WrapContainer(new_spec, index, agent);
    // WrapContainer puts the variables it adds first.
    const json& after = new_spec["containers"][index]["env"];
    json added = json::array();
    for (size_t i = 0; i < after.size() - before.size(); ++i) {
      added.push_back(after[i]["name"]);
    }
    status["env"] = std::move(added);
    status["initContainers"] = json::array({kube::kAgentInstallContainer});
    status["volumes"] = json::array({kube::kAgentVolume, kube::kWorkVolume});
  }
  if (request.restricted) {
    kube::ApplyRestrictedDefaults(new_spec);
    status["podSecurity"] = "restricted";
  }
  result.pod["metadata"]["annotations"][kStatusAnnotation] = status.dump();
  result.injected = true;
  result.description = absl::StrCat(
      "injected tether-agent (", request.sidecar ? "sidecar" : "wrap",
      " mode) into container \"", request.container, "\" for service \"",
      request.agent.service, "\"");
  return result;
}

}  // namespace tether::sidecar
