#ifndef TETHER_CONTROLPLANE_BACKEND_H_
#define TETHER_CONTROLPLANE_BACKEND_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tether/v1/service.pb.h"

namespace tether::controlplane {

/// What a backend tells the control plane about replica processes or pods.
/// Called from backend threads; implementations must not block for long and
/// must not call back into the backend.
class BackendListener {
 public:
  virtual ~BackendListener() = default;
  /// The replica's process or pod started (again, after a restart).
  virtual void OnReplicaStarted(const std::string& service,
                                const std::string& replica) = 0;
  /// The replica stopped. `will_restart` is false when it is gone for good
  /// (deleted, scaled down, or given up on after repeated crashes); `reason`
  /// says why, with the tail of its log when it crashed.
  virtual void OnReplicaExited(const std::string& service,
                               const std::string& replica,
                               const std::string& reason,
                               bool will_restart) = 0;
};

/// Where replicas run: local processes or Kubernetes pods. Thread-safe.
class Backend {
 public:
  virtual ~Backend() = default;

  /// Makes the replicas of `spec.name()` match `spec` (count, environment,
  /// resources) and connect back with `token`. Idempotent: replicas whose
  /// runtime environment did not change keep running, so a code-only
  /// redeploy costs nothing here. Replicas are named "<service>-<index>".
  virtual absl::Status Apply(const tether::v1::ServiceSpec& spec,
                             const std::string& token) = 0;

  /// Stops and removes every replica of `service`. OK when there are none.
  virtual absl::Status Delete(const std::string& service) = 0;

  /// Names of the replicas `service` should have, in index order.
  virtual std::vector<std::string> Replicas(
      const std::string& service) const = 0;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_BACKEND_H_
