#include "sidecar/workload.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/command_flag.h"
#include "kube/json_fields.h"
#include "kube/pod_mutation.h"
#include "kube/struct_json.h"
#include "servicespec/validate.h"

namespace tether::sidecar {
namespace {

using json = nlohmann::json;

// "spec.template" as the JSON pointer "/spec/template" ('~' escaped).
std::string DottedPointer(const std::string& dotted) {
  std::string pointer = "/";
  for (const char c : dotted) {
    if (c == '.') {
      pointer += '/';
    } else if (c == '~') {
      pointer += "~0";
    } else {
      pointer += c;
    }
  }
  return pointer;
}

// Merges `labels` into `object.metadata.labels`.
void AddLabels(json& object, const json& labels) {
  json& merged = object["metadata"]["labels"];
  if (!merged.is_object()) merged = json::object();
  merged.update(labels);
}

// What the spec decides about the injection, as the annotations the
// injector reads from a pod.
json InjectionAnnotations(const tether::v1::ServiceSpec& spec,
                          const WorkloadTarget& target) {
  json annotations = {{kModeAnnotation, spec.has_app() ? "sidecar" : "wrap"},
                      {kServiceAnnotation, spec.name()},
                      {kTokenSecretAnnotation, target.token_secret}};
  if (spec.has_app()) {
    annotations[kAppPortAnnotation] = absl::StrCat(spec.app().port());
    if (spec.app().proxy_port() != 0) {
      annotations[kProxyPortAnnotation] = absl::StrCat(spec.app().proxy_port());
    }
    if (!spec.app().reload_command().empty()) {
      annotations[kReloadCommandAnnotation] = EncodeCommand(
          std::vector<std::string>(spec.app().reload_command().begin(),
                                   spec.app().reload_command().end()));
    }
  }
  return annotations;
}

}  // namespace

std::optional<std::string> PodPointer(const json& object) {
  const std::string api = kube::StringField(object, "apiVersion");
  const std::string kind = kube::StringField(object, "kind");
  if (api == "v1" && kind == "Pod") return "";
  if ((api == "apps/v1" && (kind == "Deployment" || kind == "StatefulSet" ||
                            kind == "DaemonSet" || kind == "ReplicaSet")) ||
      (api == "batch/v1" && kind == "Job")) {
    return "/spec/template";
  }
  if (api == "batch/v1" && kind == "CronJob") {
    return "/spec/jobTemplate/spec/template";
  }
  return std::nullopt;
}

std::optional<std::string> WorkloadPodPointer(
    const json& object, const std::string& pod_template_path) {
  if (pod_template_path.empty()) return PodPointer(object);
  return DottedPointer(pod_template_path);
}

std::string PointerPath(const std::string& pointer) {
  std::string path = pointer.empty() ? "" : pointer.substr(1);
  std::replace(path.begin(), path.end(), '/', '.');
  return path;
}

absl::StatusOr<json> InjectWorkload(const tether::v1::ServiceSpec& spec,
                                    const InjectorConfig& config,
                                    const WorkloadTarget& target) {
  json object = kube::StructToJson(spec.workload().object());
  object["metadata"]["namespace"] = target.kube_namespace;
  AddLabels(object, target.labels);
  // Validated: a known kind, or a path for the others.
  const json::json_pointer pointer(
      WorkloadPodPointer(object, spec.workload().pod_template_path())
          .value_or(""));
  const std::string path = PointerPath(pointer.to_string());
  if (!object.contains(pointer) || !object[pointer].is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "workload.object.", path, ": required (the pod template)"));
  }
  json& pod_template = object[pointer];
  AddLabels(pod_template, target.labels);
  pod_template["metadata"]["labels"][kInjectLabel] = "true";
  json& annotations = pod_template["metadata"]["annotations"];
  if (!annotations.is_object()) annotations = json::object();
  annotations.update(InjectionAnnotations(spec, target));
  // A workload that does not serve forever (a Job, a training run of a
  // custom kind) keeps its program under the agent unless it says so.
  if (!spec.has_app() && !servicespec::Scalable(spec) &&
      !annotations.contains(kKeepProgramAnnotation)) {
    annotations[kKeepProgramAnnotation] = "true";
  }
  absl::StatusOr<Injection> injection = InjectPod(pod_template, config);
  if (!injection.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "workload.object.", path, ": ", injection.status().message()));
  }
  pod_template = std::move(injection->pod);
  return object;
}

}  // namespace tether::sidecar
