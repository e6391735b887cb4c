#include "controlplane/routes.h"

#include <utility>

namespace tether::controlplane {

using tether::v1::ServiceStatus;

bool IsRoutable(const ReplicaState& replica) {
  return replica.endpoint != nullptr && !replica.status.revision().empty();
}

std::shared_ptr<const Route> BuildRoute(const ServiceState& service) {
  auto route = std::make_shared<Route>();
  route->service = service.record.name();
  route->token = service.record.token();
  for (int codec : service.record.spec().compute().allowed_serialization()) {
    route->allowed_codecs.push_back(static_cast<tether::v1::Codec>(codec));
  }
  for (const std::string& name : service.order) {
    auto it = service.replicas.find(name);
    if (it != service.replicas.end() && IsRoutable(it->second)) {
      route->ready.push_back(it->second.endpoint);
    }
  }
  route->not_ready_reason = NotReadyReason(service);
  return route;
}

std::string NotReadyReason(const ServiceState& service) {
  switch (service.record.phase()) {
    case ServiceStatus::PHASE_FAILED:
      return "last deploy failed: " + service.record.message();
    case ServiceStatus::PHASE_DEPLOYING:
      return "deploying";
    case ServiceStatus::PHASE_IDLE:
      return "scaled to zero; a call through tetherd wakes it";
    default:
      return "";
  }
}

void RoutePublisher::OnServiceChanged(const ServiceState& service) {
  router_->SetRoute(BuildRoute(service));
}

void RoutePublisher::OnServiceRemoved(const std::string& name) {
  router_->RemoveRoute(name);
}

}  // namespace tether::controlplane
