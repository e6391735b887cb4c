#ifndef TETHER_KUBE_POD_SECURITY_H_
#define TETHER_KUBE_POD_SECURITY_H_

// The securityContext Tether gives the pods it renders (kube/render.h) and
// injects (sidecar/injector.h) unless a service opts out: what the Pod
// Security Standards "restricted" profile asks for, filled in only where the
// pod leaves a field unset, so a template's or the user's own setting wins
// (docs/DESIGN.md, "Pod security").

#include <cstdint>

#include "nlohmann/json.hpp"

namespace tether::kube {

/// The uid and gid a pod runs as when it names no user: the agent image's
/// own (deploy/agent.Dockerfile `USER 65532:65532`, distroless "nonroot").
/// Set on the pod, so it also applies to an image whose USER is root or
/// another user; a pod or container that sets runAsUser keeps it.
inline constexpr int64_t kDefaultPodUser = 65532;

/// Fills in, where `pod_spec` (a PodSpec) does not set them:
///  - pod securityContext: seccompProfile RuntimeDefault; runAsNonRoot true,
///    runAsUser and runAsGroup kDefaultPodUser (when it sets no runAsUser);
///    fsGroup kDefaultPodUser with fsGroupChangePolicy OnRootMismatch (when
///    it sets no fsGroup), so volumes are writable by that user;
///  - each container and init container: allowPrivilegeEscalation false
///    (not beside privileged or CAP_SYS_ADMIN, which the API server refuses
///    with it), capabilities.drop [ALL] (a later `add` still adds, e.g.
///    NET_BIND_SERVICE), runAsNonRoot true;
///  - automountServiceAccountToken false, unless the pod names a service
///    account other than "default" (it asks for the account's API access).
/// A pod that asks to run as root (runAsUser 0 on the pod or a container,
/// or the pod's runAsNonRoot false) gets no runAsNonRoot or user defaults:
/// they would stop it from starting. Values of the wrong type are left for
/// the API server to reject. Pure; safe to call concurrently on different
/// objects.
void ApplyRestrictedDefaults(nlohmann::json& pod_spec);

}  // namespace tether::kube

#endif  // TETHER_KUBE_POD_SECURITY_H_
