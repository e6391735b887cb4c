#ifndef TETHER_SIDECAR_INJECTOR_H_
#define TETHER_SIDECAR_INJECTOR_H_

// What tether-injector does to one pod, decided from the pod's own labels
// and annotations (docs/DESIGN.md, "Sidecar injection"). The admission
// webhook (sidecar/admission.h) and `tether inject` both call InjectPod, so
// a manifest previewed with the CLI gets exactly what the webhook would do.
//
// Opt-in: label tether.dev/inject: "true" ("false" opts out). Annotations:
//   tether.dev/inject-mode     wrap (default) | sidecar
//   tether.dev/container       the target container; needed when the pod has
//                              several and kubectl.kubernetes.io/default-
//                              container names none
//   tether.dev/service         the service the agent serves; default: label
//                              app.kubernetes.io/name, else label app
//   tether.dev/token-secret    Secret with the service token (key `token`)
//   tether.dev/code-dir        sidecar: where the app reads the code
//                              (default /var/lib/tether)
//   tether.dev/reload-command  sidecar: JSON list, run after each sync
//   tether.dev/app-port        sidecar: the app's port; the agent proxies it
//                              and counts connections as activity
//   tether.dev/proxy-port      sidecar: the proxy's port (default 8082)
//   tether.dev/keep-program    wrap: "true" runs the container's program
//                              under the agent, which exits with it
//                              (default: in pods that must complete)
//   tether.dev/pod-security    restricted (default): fill in the Pod
//                              Security Standards "restricted" settings the
//                              pod leaves unset (kube/pod_security.h), on
//                              every container; baseline: add none
// The result records what was injected in tether.dev/status; a pod carrying
// it, or already running the agent, is left alone, so injecting twice
// changes nothing.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kube/pod_mutation.h"
#include "nlohmann/json.hpp"

namespace tether::sidecar {

// Shared with tetherd, which reports pods admitted without the agent.
using kube::kInjectLabel;
using kube::kServiceAnnotation;
using kube::kStatusAnnotation;
inline constexpr char kModeAnnotation[] = "tether.dev/inject-mode";
inline constexpr char kContainerAnnotation[] = "tether.dev/container";
inline constexpr char kTokenSecretAnnotation[] = "tether.dev/token-secret";
inline constexpr char kCodeDirAnnotation[] = "tether.dev/code-dir";
inline constexpr char kReloadCommandAnnotation[] = "tether.dev/reload-command";
inline constexpr char kAppPortAnnotation[] = "tether.dev/app-port";
inline constexpr char kProxyPortAnnotation[] = "tether.dev/proxy-port";
inline constexpr char kKeepProgramAnnotation[] = "tether.dev/keep-program";
inline constexpr char kPodSecurityAnnotation[] = "tether.dev/pod-security";

/// Cluster-level settings: what `deploy/` configures the injector with.
struct InjectorConfig {
  /// Image holding the agent bundle. Required.
  std::string agent_image;
  /// Directory in `agent_image` holding the bundle.
  std::string agent_source_dir = "/opt/tether";
  /// tetherd's address as agents dial it (host:port). Required.
  std::string tetherd_address;
  /// The agent's gRPC and health ports; no container of the pod may
  /// declare them.
  int agent_port = 50052;
  int health_port = 8081;
  /// Secret with the agents' TLS files, in the pods' namespace
  /// (AgentOptions::tls_secret). Empty: plaintext.
  std::string agent_tls_secret;
  /// The cluster runs Kubernetes 1.29 or later: sidecar mode uses a native
  /// sidecar (init container with restartPolicy Always).
  bool native_sidecars = true;
};

/// The outcome for a pod that may be admitted.
struct Injection {
  /// Whether `pod` differs from the input.
  bool injected = false;
  /// The pod after injection (the input when nothing was injected).
  nlohmann::json pod;
  /// When not injected, why (not asked, already injected, hostNetwork).
  std::string skipped;
  /// The pod asked for injection (label tether.dev/inject: "true").
  bool opted_in = false;
  /// When injected, what, for people: mode, container and service.
  std::string description;
  /// For the user (the admission response's `warnings`).
  std::vector<std::string> warnings;
};

/// A port annotation's value (`key`, e.g. kAppPortAnnotation); 0 when
/// absent. INVALID_ARGUMENT naming the annotation for anything but 1-65535.
absl::StatusOr<int> PortAnnotation(const nlohmann::json& annotations,
                                   const char* key);

/// kReloadCommandAnnotation's JSON list of strings; empty when absent.
/// INVALID_ARGUMENT naming the annotation for anything else.
absl::StatusOr<std::vector<std::string>> ReloadCommandAnnotation(
    const nlohmann::json& annotations);

/// INVALID_ARGUMENT naming the field when `config` lacks the agent image or
/// tetherd's address, or its ports are not two different ports. Thread-safe.
absl::Status ValidateInjectorConfig(const InjectorConfig& config);

/// Decides and injects for `pod`, a Pod or a PodTemplateSpec (an object
/// with `metadata` and `spec`), without touching fields it does not own.
/// INVALID_ARGUMENT naming the label, annotation or field, for a pod that
/// asks to be injected but cannot be: a bad label or annotation value, no
/// way to tell the target container, a container declaring an agent port,
/// a volume or mount path Tether needs, a variable Tether sets for the
/// agent (TETHER_POD_NAME, TETHER_POD_IP, TETHER_SERVICE_TOKEN) set to
/// something else, sidecar mode in a pod that must complete without native
/// sidecars, a kPodSecurityAnnotation other than "restricted" or
/// "baseline"; or a bad `config` (ValidateInjectorConfig). Thread-safe.
absl::StatusOr<Injection> InjectPod(const nlohmann::json& pod,
                                    const InjectorConfig& config);

}  // namespace tether::sidecar

#endif  // TETHER_SIDECAR_INJECTOR_H_
