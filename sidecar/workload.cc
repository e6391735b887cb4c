#include "sidecar/workload.h"

#include "absl/strings/str_cat.h"
#include "kube/pod_mutation.h"
#include "kube/struct_json.h"

namespace tether::sidecar {
namespace {

using json = nlohmann::json;

// "/spec/template" as the path users read in messages: "spec.template".
std::string FieldPath(const std::string& pointer) {
  std::string path = pointer.substr(1);
  for (char& c : path) {
    if (c == '/') c = '.';
  }
  return path;
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
      annotations[kReloadCommandAnnotation] =
          json(std::vector<std::string>(spec.app().reload_command().begin(),
                                        spec.app().reload_command().end()))
              .dump();
    }
  }
  return annotations;
}

}  // namespace

std::string PodTemplatePointer(const std::string& kind) {
  return kind == "CronJob" ? "/spec/jobTemplate/spec/template"
                           : "/spec/template";
}

absl::StatusOr<json> InjectWorkload(const tether::v1::ServiceSpec& spec,
                                    const InjectorConfig& config,
                                    const WorkloadTarget& target) {
  json object = kube::StructToJson(spec.workload().object());
  object["metadata"]["namespace"] = target.kube_namespace;
  AddLabels(object, target.labels);
  const json::json_pointer pointer(
      PodTemplatePointer(object.value("kind", "")));
  const std::string path = FieldPath(pointer.to_string());
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
  absl::StatusOr<Injection> injection = InjectPod(pod_template, config);
  if (!injection.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "workload.object.", path, ": ", injection.status().message()));
  }
  pod_template = std::move(injection->pod);
  return object;
}

}  // namespace tether::sidecar
