#ifndef TETHER_CONTROLPLANE_METRICS_LISTENER_H_
#define TETHER_CONTROLPLANE_METRICS_LISTENER_H_

#include <string>

#include "controlplane/service_listener.h"

namespace tether::controlplane {

class ControlPlaneMetrics;

/// Feeds ControlPlaneMetrics from the ServiceManager: a service's call
/// series exist while the service does, and deploy ends are counted.
/// Thread-safe (ControlPlaneMetrics is); `metrics` must outlive it.
class MetricsListener final : public ServiceListener {
 public:
  explicit MetricsListener(ControlPlaneMetrics* metrics) : metrics_(metrics) {}

  void OnServiceChanged(const ServiceState& service) override;
  void OnServiceRemoved(const std::string& name) override;
  void OnDeployEnded(const std::string& name,
                     const absl::Status& status) override;

 private:
  ControlPlaneMetrics* const metrics_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_METRICS_LISTENER_H_
