#ifndef TETHER_KUBE_RENDER_H_
#define TETHER_KUBE_RENDER_H_

// Turns a ServiceSpec into the Kubernetes objects that run it. Pure: no API
// server, clock or randomness, so the same spec and options always render the
// same bytes and the backend can compare renders to skip no-op applies.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kube/pod_mutation.h"
#include "nlohmann/json.hpp"
#include "tether/v1/service.pb.h"

namespace tether::kube {

/// Cluster-level settings the renderer needs besides the spec. Defaults are
/// the values `deploy/` installs with.
struct RenderOptions {
  /// Namespace of every rendered object. Required.
  std::string kube_namespace = "default";
  /// Image that holds the self-contained agent (binary, loader and
  /// libraries) under `agent_source_dir`; an init container copies it into
  /// the pod so the user's image needs neither a shell nor our libraries.
  /// Required.
  std::string agent_image;
  /// Directory in `agent_image` copied into the pod's agent volume.
  std::string agent_source_dir = "/opt/tether";
  /// tetherd's address as agents dial it (host:port). Required.
  std::string tetherd_address;
  /// Code revision being deployed; recorded on the top-level objects only,
  /// never on the pod template, because new code is hot-reloaded by the
  /// agent and must not restart pods. Empty: not recorded.
  std::string revision;
  /// Port of the agent's `Agent.Invoke` gRPC server (direct calls).
  int agent_port = 50052;
  /// Port of the agent's HTTP health endpoint (`/healthz` live, `/readyz`
  /// ready) that the probes hit.
  int health_port = 8081;
  /// Port of the ClusterIP Service, forwarded to `agent_port`.
  int service_port = 80;
  /// Node label whose value `compute.gpu_type` must equal (seed convention
  /// `accelerator`; GKE uses cloud.google.com/gke-accelerator, NVIDIA's GPU
  /// feature discovery nvidia.com/gpu.product).
  std::string gpu_node_label = "accelerator";
  /// Secret holding the per-service token under key `token`, exposed to the
  /// agent as TETHER_SERVICE_TOKEN. Empty: no token env (tests, dev).
  std::string token_secret;
  /// Secret with the agents' TLS files (AgentOptions::tls_secret). Empty:
  /// plaintext.
  std::string agent_tls_secret;

  /// PodTemplate layers (ARCHITECTURE "Manifests and merge rules"), each a
  /// PodTemplateSpec (`{"metadata": ..., "spec": ...}`, see
  /// kube/pod_template.h PodTemplateSpecOf) or null when absent. The renderer
  /// is pure, so the caller reads these PodTemplate objects from the API
  /// server: the cluster default in tetherd's namespace, the one in the
  /// service's namespace (wins), and the one `compute.pod_template_name`
  /// names (replaces both).
  nlohmann::json global_default_pod_template;
  nlohmann::json namespace_default_pod_template;
  nlohmann::json named_pod_template;
};

/// Renders the objects for `spec`, in apply order:
///  - the workload: a `Deployment` (apps/v1), or for `compute.distributed` a
///    `StatefulSet` whose ordinal is the rank (a Deployment gives pods no
///    stable rank or address); its pod has the container `tether` running
///    the agent in the user's image;
///  - a ClusterIP `Service` to the agent port;
///  - for distributed, the headless `Service` `<name>-workers` that gives
///    rank 0 the stable address MASTER_ADDR names;
///  - an autoscaling/v2 `HorizontalPodAutoscaler` when `compute.autoscaling`
///    is set;
///  - a policy/v1 `PodDisruptionBudget` (maxUnavailable 1) when more than one
///    replica can run.
/// Every object carries app.kubernetes.io/{name,instance,managed-by,component}
/// and tether.dev/service labels plus `compute.labels`/`annotations`. The pod
/// also carries prometheus.io/{scrape,port,path} for the agent's /metrics on
/// `health_port` (compute.annotations override them), and the Tether
/// container gets POD_NAME/POD_NAMESPACE from the downward API unless the
/// user sets them.
/// Unless `compute.pod_security` is BASELINE, the pod then gets the Pod
/// Security Standards "restricted" settings no layer set
/// (kube/pod_security.h ApplyRestrictedDefaults), its own and the agent's
/// init container's alike.
/// Errors: INVALID_ARGUMENT from `servicespec::ValidateServiceSpec` or for bad
/// options (missing agent image/tetherd address/namespace, bad ports, a
/// revision that is not hex, master_port equal to an agent port), or from
/// layering a template (kube/pod_template.h, message prefixed with the
/// layer); NOT_FOUND when `compute.pod_template_name` is set and
/// `options.named_pod_template` is null. Thread-safe.
absl::StatusOr<std::vector<nlohmann::json>> RenderService(
    const tether::v1::ServiceSpec& spec, const RenderOptions& options);

/// The annotation that records `compute.inactivity_ttl` in seconds, read by
/// the TTL controller after a tetherd restart.
inline constexpr char kInactivityTtlAnnotation[] =
    "tether.dev/inactivity-ttl-seconds";

/// Beside kInactivityTtlAnnotation: what the TTL does, `compute.ttl_action`
/// as "scale-to-zero" (the default) or "delete".
inline constexpr char kTtlActionAnnotation[] = "tether.dev/ttl-action";

}  // namespace tether::kube

#endif  // TETHER_KUBE_RENDER_H_
