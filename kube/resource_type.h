#ifndef TETHER_KUBE_RESOURCE_TYPE_H_
#define TETHER_KUBE_RESOURCE_TYPE_H_

// Names of the Kubernetes collections Tether reads and writes, as they appear
// in REST paths (`/api/v1/...`, `/apis/apps/v1/...`).

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// One collection: group/version plus the resource's plural. Refers to
/// static strings, so copies are cheap and the constants below are constexpr.
struct ResourceType {
  absl::string_view api_version;  // "v1", "apps/v1"
  absl::string_view kind;         // "Deployment"
  absl::string_view plural;       // "deployments"
};

inline constexpr ResourceType kPods{"v1", "Pod", "pods"};
inline constexpr ResourceType kServices{"v1", "Service", "services"};
inline constexpr ResourceType kSecrets{"v1", "Secret", "secrets"};
inline constexpr ResourceType kPodTemplates{"v1", "PodTemplate",
                                            "podtemplates"};
inline constexpr ResourceType kEvents{"v1", "Event", "events"};
inline constexpr ResourceType kDeployments{"apps/v1", "Deployment",
                                           "deployments"};
inline constexpr ResourceType kStatefulSets{"apps/v1", "StatefulSet",
                                            "statefulsets"};
inline constexpr ResourceType kJobs{"batch/v1", "Job", "jobs"};
inline constexpr ResourceType kCronJobs{"batch/v1", "CronJob", "cronjobs"};
inline constexpr ResourceType kHorizontalPodAutoscalers{
    "autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"};
inline constexpr ResourceType kPodDisruptionBudgets{
    "policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"};

/// The type of `object` from its `apiVersion` and `kind`. INVALID_ARGUMENT
/// when either is missing or names a kind neither listed above nor interned.
absl::StatusOr<ResourceType> ResourceTypeOf(const nlohmann::json& object);

/// Registers a kind Tether has no constant for (a custom resource, as the
/// API server's discovery names its plural) and returns its type. The
/// strings live as long as the process, so the result copies as cheaply as
/// the constants; registering a kind again returns the first registration.
/// Thread-safe.
ResourceType InternResourceType(absl::string_view api_version,
                                absl::string_view kind,
                                absl::string_view plural);

/// metadata.<field> of `object` (name, resourceVersion, uid...); "" when
/// absent or not a string.
std::string MetadataString(const nlohmann::json& object,
                           absl::string_view field);
/// metadata.name of `object`; "" when absent or not a string.
std::string ObjectName(const nlohmann::json& object);
/// metadata.labels[key] of `object`; "" when absent or not a string.
std::string ObjectLabel(const nlohmann::json& object, absl::string_view key);

/// The REST path of `name` (or of the collection when `name` is empty) in
/// namespace `ns`, e.g. `/apis/apps/v1/namespaces/ns/deployments/web`.
std::string ResourcePath(const ResourceType& type, absl::string_view ns,
                         absl::string_view name);

}  // namespace tether::kube

#endif  // TETHER_KUBE_RESOURCE_TYPE_H_
