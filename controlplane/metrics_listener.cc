#include "controlplane/metrics_listener.h"

#include "controlplane/control_plane_metrics.h"

namespace tether::controlplane {

void MetricsListener::OnServiceChanged(const ServiceState& service) {
  metrics_->ServiceAdded(service.record.name());
}

void MetricsListener::OnServiceRemoved(const std::string& name) {
  metrics_->ServiceDeleted(name);
}

void MetricsListener::OnDeployEnded(const std::string& /*name*/,
                                    const absl::Status& status) {
  metrics_->DeployEnded(status);
}

}  // namespace tether::controlplane
