#ifndef TETHER_KUBE_POD_MUTATION_H_
#define TETHER_KUBE_POD_MUTATION_H_

// The one way `tether-agent` is put into a pod, shared by the renderer
// (kube/render.h) and the injector (sidecar/injector.h), so rendered and
// injected pods cannot drift. Works on the raw PodSpec JSON: fields it does
// not touch, known to us or not, are kept as they are.
//
// Two shapes:
//  - WrapContainer: the agent becomes the container's process (rendered
//    services, and the injector's `wrap` mode). An init container copies the
//    self-contained agent bundle from the agent image into the emptyDir
//    `tether-agent`, mounted at /tether, so the user's image needs neither a
//    shell nor our libraries; code revisions live in the emptyDir
//    `tether-work` at /var/lib/tether.
//  - AddAgentSidecar: the agent runs in its own image next to the user's
//    server and shares `tether-work` with it (the injector's `sidecar`
//    mode).
// Tether's entries go first in every list (volumes, init containers, mounts,
// ports, env): the order rendered pods have always had.
//
// All functions are pure: safe to call concurrently on different objects.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// Names and paths Tether owns in a pod. kMainContainer runs the agent in
/// every rendered pod, and is the injector's sidecar.
inline constexpr char kMainContainer[] = "tether";
inline constexpr char kAgentVolume[] = "tether-agent";
inline constexpr char kWorkVolume[] = "tether-work";
inline constexpr char kAgentInstallContainer[] = "tether-agent-install";
/// Where the agent bundle is mounted (its interpreter path points there).
inline constexpr char kAgentDir[] = "/tether";
/// Where the agent keeps code revisions.
inline constexpr char kWorkDir[] = "/var/lib/tether";
/// The agents' TLS Secret (tls.crt, tls.key, ca.crt), mounted read-only.
inline constexpr char kTlsVolume[] = "tether-tls";
inline constexpr char kTlsDir[] = "/var/run/tether/tls";
/// The agent binary inside the bundle.
inline constexpr char kAgentBinary[] = "/tether/bin/tether-agent";
/// Sidecar mode: the agent container's port that proxies the app, and the
/// variable that tells the app where the code is.
inline constexpr char kProxyPortName[] = "tether-proxy";
inline constexpr int kDefaultProxyPort = 8082;
inline constexpr char kCodeDirEnv[] = "TETHER_CODE_DIR";

/// The pod label asking for injection ("true"; "false" opts out), the
/// annotation naming the service the agent serves, and the annotation the
/// injector records what it did in (sidecar/injector.h).
inline constexpr char kInjectLabel[] = "tether.dev/inject";
inline constexpr char kServiceAnnotation[] = "tether.dev/service";
inline constexpr char kStatusAnnotation[] = "tether.dev/status";

/// Why a pod (its `metadata` and `spec`) already has the agent: it carries
/// kStatusAnnotation, or a container or init container is Tether's or runs
/// kAgentBinary. "" when it has not. The injector leaves such pods alone;
/// tetherd reports opted-in pods without it.
std::string AgentAlreadyThere(const nlohmann::json& metadata,
                              const nlohmann::json& spec);

/// The service an opted-in pod's agent serves: annotation
/// kServiceAnnotation, else label app.kubernetes.io/name, else label app.
/// INVALID_ARGUMENT naming the annotation or label when none is set or the
/// value is not a service name.
absl::StatusOr<std::string> InjectedServiceName(const nlohmann::json& metadata);

/// What every agent is told. Defaults are the values `deploy/` installs
/// with (kube/render.h RenderOptions carries the same fields).
struct AgentOptions {
  /// Image holding the agent bundle under `agent_source_dir`.
  std::string agent_image;
  /// Directory in `agent_image` copied into the pod's agent volume.
  std::string agent_source_dir = "/opt/tether";
  /// tetherd's address as agents dial it (host:port).
  std::string tetherd_address;
  /// The service the pod's agent serves.
  std::string service;
  /// Port of the agent's `Agent.Invoke` gRPC server.
  int agent_port = 50052;
  /// Port of the agent's HTTP health endpoint (/healthz, /readyz, /metrics).
  int health_port = 8081;
  /// Secret holding the service token under key `token`, exposed as
  /// TETHER_SERVICE_TOKEN. Empty: no token variable.
  std::string token_secret;
  /// Secret holding the agents' TLS certificate, key and CA (cert-manager's
  /// tls.crt, tls.key, ca.crt), mounted at kTlsDir: the agent serves TLS
  /// and verifies tetherd. Empty: plaintext.
  std::string tls_secret;
  /// The team's program (exec form) the agent runs beside its workers and
  /// exits with (--app_command): a wrapped container of a pod that must
  /// complete keeps its work this way. Empty: none.
  std::vector<std::string> app_command;
};

/// The injector's sidecar shape.
struct SidecarOptions {
  /// Kubernetes >= 1.29: the agent is an init container with
  /// `restartPolicy: Always` whose startup probe (ready = first code sync
  /// done) holds the app back until the code is there. Otherwise a classic
  /// sidecar, first in `containers`, with no start-up ordering.
  bool native = true;
  /// Where the app container sees the synced code (read-only).
  std::string code_dir = kWorkDir;
  /// Run by the agent after each sync (exec form); empty: none.
  std::vector<std::string> reload_command;
  /// The app's port: the agent proxies `proxy_port` to it and counts each
  /// connection as activity (the inactivity TTL). 0: no proxy.
  int app_port = 0;
  /// The proxy's port (named kProxyPortName): the pod's Service targets it.
  int proxy_port = kDefaultProxyPort;
};

/// Whether `container`'s `env` lists `name`.
bool SetsEnv(const nlohmann::json& container, const std::string& name);

/// The variables the agent is given (entries of a container's `env`), in
/// order; a container that sets one already keeps its own.
nlohmann::json AgentEnv(const AgentOptions& options);

/// Makes `pod_spec.containers[container]` run the agent in its own image:
/// command and args replaced; agent ports, env, and the bundle and work
/// mounts put first; liveness and readiness probes set to the agent's
/// (/healthz, /readyz on the `health` port); a startup probe removed (it
/// would probe the user's process, which no longer runs);
/// terminationMessagePolicy FallbackToLogsOnError. Adds the `tether-agent`
/// and `tether-work` volumes and the `tether-agent-install` init container
/// first. An agent variable the container already sets is left alone.
/// Requires `container` to index `pod_spec.containers`; conflicts (names,
/// ports, mount paths) are the caller's to rule out.
void WrapContainer(nlohmann::json& pod_spec, size_t container,
                   const AgentOptions& options);

/// Adds the agent next to `pod_spec.containers[app]`: the container
/// `tether` (image `agent_image`, running the bundle the image carries) per
/// `sidecar.native`, with the proxy port when `sidecar.app_port` is set; the
/// `tether-work` volume first; and in the app container its read-only mount
/// at `sidecar.code_dir` and TETHER_CODE_DIR (`<code_dir>/current`, where
/// each revision appears) first, unless the app sets that variable. Same
/// preconditions as WrapContainer.
void AddAgentSidecar(nlohmann::json& pod_spec, size_t app,
                     const AgentOptions& options,
                     const SidecarOptions& sidecar);

}  // namespace tether::kube

#endif  // TETHER_KUBE_POD_MUTATION_H_
