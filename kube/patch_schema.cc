#include "kube/patch_schema.h"

#include <string>

namespace tether::kube {
namespace {

enum Strategy : unsigned {
  kNone = 0,
  kMerge = 1,
  kRetainKeys = 2,
  kReplace = 4,
};

struct Row {
  std::string_view type;
  std::string_view field;
  std::string_view value_type;
  unsigned strategy;
  std::string_view merge_key;
  bool key_has_protocol;
};

// Transcribed from the struct tags of k8s.io/api (core/v1, apps/v1,
// policy/v1, autoscaling/v2) and apimachinery's ObjectMeta as of Kubernetes
// 1.32. Rows with kNone only lead the way to typed fields further down.
// EphemeralContainer shares Container's JSON fields (and tags), so both use
// "Container".
constexpr Row kRows[] = {
    // Whole objects.
    {"Deployment", "metadata", "ObjectMeta", kNone, "", false},
    {"Deployment", "spec", "DeploymentSpec", kNone, "", false},
    {"Deployment", "status", "DeploymentStatus", kNone, "", false},
    {"StatefulSet", "metadata", "ObjectMeta", kNone, "", false},
    {"StatefulSet", "spec", "StatefulSetSpec", kNone, "", false},
    {"StatefulSet", "status", "StatefulSetStatus", kNone, "", false},
    {"Service", "metadata", "ObjectMeta", kNone, "", false},
    {"Service", "spec", "ServiceSpec", kNone, "", false},
    {"Service", "status", "ServiceStatus", kNone, "", false},
    {"Pod", "metadata", "ObjectMeta", kNone, "", false},
    {"Pod", "spec", "PodSpec", kNone, "", false},
    {"Pod", "status", "PodStatus", kNone, "", false},
    {"PodTemplate", "metadata", "ObjectMeta", kNone, "", false},
    {"PodTemplate", "template", "PodTemplateSpec", kNone, "", false},
    {"HorizontalPodAutoscaler", "metadata", "ObjectMeta", kNone, "", false},
    {"HorizontalPodAutoscaler", "status", "HorizontalPodAutoscalerStatus",
     kNone, "", false},
    {"PodDisruptionBudget", "metadata", "ObjectMeta", kNone, "", false},
    {"PodDisruptionBudget", "spec", "PodDisruptionBudgetSpec", kNone, "",
     false},
    {"PodDisruptionBudget", "status", "PodDisruptionBudgetStatus", kNone, "",
     false},

    // Metadata.
    {"ObjectMeta", "finalizers", "", kMerge, "", false},
    {"ObjectMeta", "ownerReferences", "", kMerge, "uid", false},

    // Workloads.
    {"DeploymentSpec", "template", "PodTemplateSpec", kNone, "", false},
    {"DeploymentSpec", "strategy", "", kRetainKeys, "", false},
    {"DeploymentStatus", "conditions", "", kMerge, "type", false},
    {"StatefulSetSpec", "template", "PodTemplateSpec", kNone, "", false},
    {"StatefulSetStatus", "conditions", "", kMerge, "type", false},

    // Services.
    {"ServiceSpec", "ports", "", kMerge, "port", true},
    {"ServiceStatus", "conditions", "", kMerge, "type", false},

    // Autoscaling and disruption budgets.
    {"HorizontalPodAutoscalerStatus", "conditions", "", kMerge, "type", false},
    {"PodDisruptionBudgetSpec", "selector", "", kReplace, "", false},
    {"PodDisruptionBudgetStatus", "conditions", "", kMerge, "type", false},

    // Pods.
    {"PodTemplateSpec", "metadata", "ObjectMeta", kNone, "", false},
    {"PodTemplateSpec", "spec", "PodSpec", kNone, "", false},
    {"PodSpec", "volumes", "Volume", kMerge | kRetainKeys, "name", false},
    {"PodSpec", "initContainers", "Container", kMerge, "name", false},
    {"PodSpec", "containers", "Container", kMerge, "name", false},
    {"PodSpec", "ephemeralContainers", "Container", kMerge, "name", false},
    {"PodSpec", "imagePullSecrets", "", kMerge, "name", false},
    {"PodSpec", "hostAliases", "", kMerge, "ip", false},
    {"PodSpec", "topologySpreadConstraints", "", kMerge, "topologyKey", false},
    {"PodSpec", "resourceClaims", "", kMerge | kRetainKeys, "name", false},
    {"PodSpec", "schedulingGates", "", kMerge, "name", false},
    {"PodStatus", "conditions", "", kMerge, "type", false},
    {"PodStatus", "podIPs", "", kMerge, "ip", false},
    {"PodStatus", "hostIPs", "", kMerge, "ip", false},
    {"PodStatus", "resourceClaimStatuses", "", kMerge | kRetainKeys, "name",
     false},
    {"Container", "ports", "", kMerge, "containerPort", true},
    {"Container", "env", "", kMerge, "name", false},
    {"Container", "volumeMounts", "", kMerge, "mountPath", false},
    {"Container", "volumeDevices", "", kMerge, "devicePath", false},
    // A generic ephemeral volume's claim template carries ObjectMeta.
    {"Volume", "ephemeral", "EphemeralVolumeSource", kNone, "", false},
    {"EphemeralVolumeSource", "volumeClaimTemplate",
     "PersistentVolumeClaimTemplate", kNone, "", false},
    {"PersistentVolumeClaimTemplate", "metadata", "ObjectMeta", kNone, "",
     false},
};

// apiVersion (group/version) and kind of the top-level objects above.
struct Kind {
  std::string_view api_version;
  std::string_view kind;
};
constexpr Kind kKinds[] = {
    {"apps/v1", "Deployment"},
    {"apps/v1", "StatefulSet"},
    {"v1", "Service"},
    {"v1", "Pod"},
    {"v1", "PodTemplate"},
    {"autoscaling/v2", "HorizontalPodAutoscaler"},
    {"policy/v1", "PodDisruptionBudget"},
};

}  // namespace

FieldPatchMeta LookupPatchMeta(std::string_view type, std::string_view field) {
  if (type.empty()) return {};
  // A linear scan: the table is small and lookups happen once per field of
  // a template, far from any hot path.
  for (const Row& row : kRows) {
    if (row.type != type || row.field != field) continue;
    FieldPatchMeta meta;
    meta.value_type = row.value_type;
    meta.merge = (row.strategy & kMerge) != 0;
    meta.retain_keys = (row.strategy & kRetainKeys) != 0;
    meta.replace = (row.strategy & kReplace) != 0;
    meta.merge_key = row.merge_key;
    meta.key_has_protocol = row.key_has_protocol;
    return meta;
  }
  return {};
}

std::string_view SchemaTypeOfObject(const nlohmann::json& object) {
  if (!object.is_object()) return {};
  auto api_version = object.find("apiVersion");
  auto kind = object.find("kind");
  if (api_version == object.end() || kind == object.end() ||
      !api_version->is_string() || !kind->is_string()) {
    return {};
  }
  for (const Kind& k : kKinds) {
    if (k.api_version == api_version->get_ref<const std::string&>() &&
        k.kind == kind->get_ref<const std::string&>()) {
      return k.kind;
    }
  }
  return {};
}

}  // namespace tether::kube
