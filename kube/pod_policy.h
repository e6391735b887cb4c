#ifndef TETHER_KUBE_POD_POLICY_H_
#define TETHER_KUBE_POD_POLICY_H_

// The cluster's pod policy (tetherd --pod_policy_file): which host-level
// features a service's pod may ask for. tetherd checks the final pod, after
// every PodTemplate and service_template is merged and before anything is
// recorded or applied, of rendered services and of `tether apply`
// workloads alike; a service's pod_security opt-out does not change it.
// Format: proto/tether/v1/pod_policy.proto.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "tether/v1/pod_policy.pb.h"

namespace tether::kube {

/// Immutable once made: thread-safe.
class PodPolicy {
 public:
  /// Refuses everything the policy governs: the default.
  PodPolicy() = default;

  /// INVALID_ARGUMENT naming the field for an allowed host path that is not
  /// absolute or has a ".." component.
  static absl::StatusOr<PodPolicy> Create(const tether::v1::PodPolicy& config);

  /// Reads the YAML file at `path` (an empty file refuses everything) and
  /// calls Create. Errors name the file and the field.
  static absl::StatusOr<PodPolicy> FromFile(const std::string& path);

  /// OK when `pod_spec` (a PodSpec found at `path`, e.g.
  /// "spec.template.spec") asks for nothing the policy refuses; else
  /// PERMISSION_DENIED naming the first offending field by its full path,
  /// e.g. "spec.template.spec.containers[0].securityContext.privileged".
  /// Checks hostNetwork, hostPID, hostIPC, hostPath volumes (a path that is
  /// not an absolute path without ".." is refused), then each init
  /// container and container: privileged, host ports, added capabilities.
  absl::Status Check(const nlohmann::json& pod_spec,
                     absl::string_view path) const;

 private:
  // One container, called `name` ("containers[0]") in errors.
  absl::Status CheckContainer(const nlohmann::json& container,
                              absl::string_view path,
                              absl::string_view name) const;

  // Normalized allowed host paths, as path components.
  std::vector<std::vector<std::string>> host_paths_;
  tether::v1::PodPolicy config_;
};

}  // namespace tether::kube

#endif  // TETHER_KUBE_POD_POLICY_H_
