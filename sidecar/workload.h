#ifndef TETHER_SIDECAR_WORKLOAD_H_
#define TETHER_SIDECAR_WORKLOAD_H_

// A workload the team already has, made a Tether service (`tether apply`,
// ServiceSpec.workload): the agent injected into its pod template exactly as
// tether-injector injects a pod, so applied and admitted pods cannot drift.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "sidecar/injector.h"
#include "tether/v1/service.pb.h"

namespace tether::sidecar {

/// Where the workload's objects go and what tetherd labels its objects with.
struct WorkloadTarget {
  std::string kube_namespace;
  /// The Secret holding the service token (key `token`).
  std::string token_secret;
  /// Labels put on the object and on its pods (tetherd finds the service's
  /// pods and objects by them).
  nlohmann::json labels = nlohmann::json::object();
};

/// Where `object` keeps the pod it runs, as a JSON pointer: "" for a Pod,
/// "/spec/template" for Deployments, StatefulSets, DaemonSets, ReplicaSets
/// and Jobs, "/spec/jobTemplate/spec/template" for CronJobs; nullopt for
/// objects that run no pod.
std::optional<std::string> PodPointer(const nlohmann::json& object);

/// The pointer to a workload's pod template: `pod_template_path`
/// ("spec.template", dotted) when given, else PodPointer(object).
std::optional<std::string> WorkloadPodPointer(
    const nlohmann::json& object, const std::string& pod_template_path);

/// "spec.template" for "/spec/template": how messages name a pointer.
std::string PointerPath(const std::string& pointer);

/// `spec.workload.object` (validated with servicespec::ValidateServiceSpec)
/// with its namespace, `target.labels` on it and on its pod template, and
/// the agent injected into the template (at `spec.workload.pod_template_path`,
/// else where the kind keeps it) with InjectPod: wrap mode for a
/// callable, sidecar mode for an app (its port and reload command), the
/// service named after the spec and `target.token_secret` as its token.
/// Other annotations of the template (tether.dev/container,
/// code-dir, proxy-port) keep their meaning. A template injected already
/// (tether.dev/status) is applied as it is. INVALID_ARGUMENT, naming the
/// field, when the template is missing or InjectPod refuses it. Thread-safe.
absl::StatusOr<nlohmann::json> InjectWorkload(
    const tether::v1::ServiceSpec& spec, const InjectorConfig& config,
    const WorkloadTarget& target);

}  // namespace tether::sidecar

#endif  // TETHER_SIDECAR_WORKLOAD_H_
