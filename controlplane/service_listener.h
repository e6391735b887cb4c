#ifndef TETHER_CONTROLPLANE_SERVICE_LISTENER_H_
#define TETHER_CONTROLPLANE_SERVICE_LISTENER_H_

#include <string>

#include "absl/status/status.h"
#include "controlplane/service_state.h"

namespace tether::controlplane {

/// Follows services as they change, so a capability that reacts to them
/// (routes, an inactivity-TTL controller, an endpoints publisher) is added
/// beside ServiceManager instead of inside it. Called with the
/// ServiceManager's lock held, so calls arrive in order: implementations
/// must not block and must not call back into the ServiceManager.
class ServiceListener {
 public:
  virtual ~ServiceListener() = default;
  /// `service` changed: its phase, its replicas or their agents.
  virtual void OnServiceChanged(const ServiceState& service) = 0;
  /// The service `name` was deleted.
  virtual void OnServiceRemoved(const std::string& name) = 0;
  /// The deploy a client asked for of `name` ended: OK once every replica
  /// serves it, ABORTED when superseded or deleted, else why it failed.
  /// Not called for the wake-ups and recoveries tetherd drives itself.
  /// Optional.
  virtual void OnDeployEnded(const std::string& /*name*/,
                             const absl::Status& /*status*/) {}
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_SERVICE_LISTENER_H_
