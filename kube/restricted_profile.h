#ifndef TETHER_KUBE_RESTRICTED_PROFILE_H_
#define TETHER_KUBE_RESTRICTED_PROFILE_H_

// For tests: the Pod Security Standards "restricted" profile (Kubernetes
// 1.30, https://kubernetes.io/docs/concepts/security/pod-security-standards/)
// as checks on a PodSpec, so rendered and injected pods can be held to it
// without an API server. Covers the baseline controls a pod spec can break
// by itself (privileged, host namespaces, hostPath, hostPort) and every
// restricted one.

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace tether::kube {

/// One line per broken rule, each naming the field below `pod_spec`
/// ("containers[0].securityContext.allowPrivilegeEscalation: must be
/// false"); empty when `pod_spec` passes. Pure.
std::vector<std::string> RestrictedProfileViolations(
    const nlohmann::json& pod_spec);

}  // namespace tether::kube

#endif  // TETHER_KUBE_RESTRICTED_PROFILE_H_
