#ifndef TETHER_CONTROLPLANE_ROUTES_H_
#define TETHER_CONTROLPLANE_ROUTES_H_

#include <memory>
#include <string>

#include "controlplane/call_router.h"
#include "controlplane/service_listener.h"
#include "controlplane/service_state.h"

namespace tether::controlplane {

/// Whether calls may go to `replica`: its attached agent serves some
/// revision (the old one, too, while a new revision loads). Thread-safe.
bool IsRoutable(const ReplicaState& replica);

/// Why nothing of `service` may be ready now ("deploying", "last deploy
/// failed: ...", "scaled to zero"), or empty. Thread-safe.
std::string NotReadyReason(const ServiceState& service);

/// The route calls to `service` take: its token and allowed codecs, the
/// replicas whose attached agent serves some revision (in replica order,
/// including the old revision while a new one loads), and why nothing may
/// be ready ("deploying", "last deploy failed: ..."). A pure function of
/// `service`. Thread-safe.
std::shared_ptr<const Route> BuildRoute(const ServiceState& service);

/// Keeps a CallRouter's routes in step with the services: the route of a
/// changed service is rebuilt, a deleted one's removed. Thread-safe as the
/// router is; the router must outlive it.
class RoutePublisher final : public ServiceListener {
 public:
  explicit RoutePublisher(CallRouter* router) : router_(router) {}

  void OnServiceChanged(const ServiceState& service) override;
  void OnServiceRemoved(const std::string& name) override;

 private:
  CallRouter* const router_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_ROUTES_H_
