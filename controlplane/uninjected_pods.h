#ifndef TETHER_CONTROLPLANE_UNINJECTED_PODS_H_
#define TETHER_CONTROLPLANE_UNINJECTED_PODS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tether/v1/control_plane.pb.h"

namespace tether::controlplane {

/// Pods that asked for the agent but run without it (admitted while
/// tether-injector was down), as `tether status` and `tether ls` show them.
/// InjectionReconciler finds them on Kubernetes; tests list their own.
class UninjectedPods {
 public:
  virtual ~UninjectedPods() = default;
  /// Every such pod now, sorted by service, then pod. Thread-safe.
  virtual std::vector<tether::v1::UninjectedPod> List() const = 0;
};

/// Puts each of `pods` into the ServiceStatus of its service in `list`, and
/// the pods of services not listed into `list.uninjected_pods`.
void AddUninjectedPods(const std::vector<tether::v1::UninjectedPod>& pods,
                       tether::v1::ListServicesResponse& list);

/// Puts the pods of `status`'s service among `pods` into it.
void AddUninjectedPods(const std::vector<tether::v1::UninjectedPod>& pods,
                       tether::v1::ServiceStatus& status);

/// `not_found` (tetherd does not know service `name`) saying which of
/// `pods` serve `name`, since those are why someone asks for it; `not_found`
/// itself when none do.
absl::Status ExplainUninjected(
    const absl::Status& not_found, const std::string& name,
    const std::vector<tether::v1::UninjectedPod>& pods);

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_UNINJECTED_PODS_H_
