#ifndef TETHER_KUBE_POD_TEMPLATE_H_
#define TETHER_KUBE_POD_TEMPLATE_H_

// PodTemplate layering and service_template, on top of kube/merge.h: how the
// renderer builds a service's pod template from cluster and user templates,
// and how the injector will apply the same templates to users' pods.
//
// Layering, lowest first (docs/DESIGN.md, "Kubernetes manifests"):
//   1. the cluster default PodTemplate: the one in the service's namespace if
//      given, else the global one (tetherd's namespace); a choice, not a merge
//   2. the named PodTemplate (`pod_template_name`): replaces layer 1
//   3. the pod template the renderer derives from `Compute`
//   4. the inline `pod_template` from `Compute`
// Each layer is merged over the result of the lower ones with MergeInto in
// MergeMode::kLayer (Flyte's rule: lists append, maps override), not as a
// strategic merge patch: see merge.h and docs/DESIGN.md for the difference.
// Then the container conventions are applied:
//   - a container named "default" (merged across layers by name) is the base
//     of every other container in `spec.containers`;
//   - a container named "primary" is applied over "default" for the main
//     container (PodLayers::main_container);
//   - each container's own fields (from any layer) go over both; "default"
//     and "primary" are removed from the output.
// Finally ApplyServiceTemplate merges `service_template` over the whole
// rendered object (e.g. the Deployment).
//
// Where this differs from Flyte (docs/DESIGN.md says why at more length):
//   - Flyte puts its K8s plugin config above the task's inline pod_template;
//     we have no such layer: operator defaults live in the cluster default
//     template (lowest) and the user's inline template beats Compute-derived
//     fields, so the service owner has the last word short of admission.
//   - Containers other than "default"/"primary" in a template are kept (they
//     are how a template adds a sidecar); Flyte drops them, hence its "noop"
//     placeholder idiom, which here would add a "noop" sidecar.
//   - "default"/"primary" apply to `spec.containers` only, not to
//     initContainers: an init container is usually a different, small image
//     that should not inherit the app's resources or env.
//   - The output never contains "default"/"primary" entries (Flyte's
//     documented example 2 shows them; its text says they are folded in).
//   - Lists are not always appended: lists Kubernetes merges by key
//     (containers, env, volumes...) merge entry by entry (merge.h).
//
// All functions here are pure (no shared state): safe to call concurrently.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// Names of the convention containers, as in Flyte.
inline constexpr char kDefaultContainer[] = "default";
inline constexpr char kPrimaryContainer[] = "primary";

/// The inputs of LayerPodSpec. Each template is a PodTemplateSpec in JSON,
/// i.e. `{"metadata": {...}, "spec": {<PodSpec>}}` (the `template` field of
/// a PodTemplate object; see PodTemplateSpecOf). Null means "not given".
struct PodLayers {
  /// Cluster default from tetherd's own namespace.
  nlohmann::json global_default;
  /// Cluster default from the service's namespace; beats `global_default`.
  nlohmann::json namespace_default;
  /// The template `pod_template_name` names; replaces both defaults.
  nlohmann::json named;
  /// What the renderer derives from Compute (image, resources, env, ports,
  /// labels...), normally including the main container.
  nlohmann::json compute;
  /// Compute's inline `pod_template`.
  nlohmann::json inline_template;
  /// The container "primary" applies to.
  std::string main_container = "tether";
};

/// Layers `layers` as described above and returns the resulting
/// PodTemplateSpec (`{"metadata": ..., "spec": ...}`, both always objects).
/// INVALID_ARGUMENT, prefixed with the layer's name, when a layer is not an
/// object with only `metadata` and `spec`, when a merge fails (merge.h), or
/// when "primary" is given but no container is named `main_container`.
absl::StatusOr<nlohmann::json> LayerPodSpec(const PodLayers& layers);

/// Returns the `template` of a PodTemplate object (kind PodTemplate), for
/// PodLayers. INVALID_ARGUMENT when it is not a PodTemplate or has no
/// object `template`.
absl::StatusOr<nlohmann::json> PodTemplateSpecOf(
    const nlohmann::json& pod_template);

/// Merges `service_template` over the whole rendered `object` (MergeInto at
/// the root) as a strategic merge patch, by the schema of `object`'s kind.
/// Null `service_template` is a no-op. INVALID_ARGUMENT, prefixed
/// "service_template: ", when either is not an object, the merge fails, it
/// would change apiVersion, kind, metadata.name or metadata.namespace
/// (tetherd finds and deletes its objects by these) or spec.selector
/// (immutable), it removes or changes a pod label spec.selector matches (the
/// API server would refuse the workload), or it names a container
/// "default"/"primary" under spec.template.spec (the conventions belong to
/// pod templates; here they would become bogus containers).
/// On error `object` is unchanged.
absl::Status ApplyServiceTemplate(nlohmann::json& object,
                                  const nlohmann::json& service_template);

}  // namespace tether::kube

#endif  // TETHER_KUBE_POD_TEMPLATE_H_
