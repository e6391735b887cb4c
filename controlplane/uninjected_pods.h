#ifndef TETHER_CONTROLPLANE_UNINJECTED_PODS_H_
#define TETHER_CONTROLPLANE_UNINJECTED_PODS_H_

#include <vector>

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

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_UNINJECTED_PODS_H_
