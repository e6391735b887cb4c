#ifndef TETHER_CONTROLPLANE_SERVICE_REGISTRY_H_
#define TETHER_CONTROLPLANE_SERVICE_REGISTRY_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "controlplane/service_state.h"
#include "controlplane/service_store.h"
#include "tether/v1/control_plane.pb.h"

namespace tether::controlplane {

/// The services tetherd runs: each one's record (its desired state, kept
/// durable in a ServiceStore) and its replicas as last reported. Not
/// thread-safe: the ServiceManager calls it under its lock.
class ServiceRegistry {
 public:
  struct Options {
    ServiceStore* store = nullptr;
    /// Stamps `created` and `updated`. Never null.
    Clock* clock = Clock::Real();
    /// Makes the token of a new service.
    std::function<std::string()> new_token;
  };

  explicit ServiceRegistry(Options options);

  /// Loads every stored record (once, at start). Returns their names.
  absl::StatusOr<std::vector<std::string>> Load();

  /// Records the desired state a deploy of `spec` at `revision` asks for:
  /// the next generation, PHASE_DEPLOYING; a new service gets a token. Stored
  /// before the record changes, so an error changes nothing:
  /// ALREADY_EXISTS when the service is recorded in another namespace,
  /// FAILED_PRECONDITION when a frozen service's code would change, or the
  /// store's error.
  absl::StatusOr<ServiceState*> Record(const tether::v1::ServiceSpec& spec,
                                       const std::string& revision);
  /// Stores `service`'s record as it is now; logs a failure (the record in
  /// memory stays the truth until the next write).
  void Persist(ServiceState& service);
  /// Stores `record` as `service`'s new record, then takes it: a store
  /// error changes nothing.
  absl::Status Update(ServiceState& service, tether::v1::ServiceStatus record);
  /// Forgets `name` in the store, then here, and returns what it was.
  /// NOT_FOUND when unknown; a store error changes nothing.
  absl::StatusOr<ServiceState> Remove(const std::string& name);

  /// Null when unknown.
  ServiceState* Find(const std::string& name);
  const ServiceState* Find(const std::string& name) const;
  const std::map<std::string, ServiceState>& services() const {
    return services_;
  }

  /// The service whose agents hold `token`; null when none does.
  const std::string* ServiceForToken(const std::string& token) const;
  /// What each service is deployed at and what each replica serves.
  absl::flat_hash_set<std::string> LiveRevisions() const;

 private:
  const Options options_;
  std::map<std::string, ServiceState> services_;
  // Service token -> service name, for agents that authenticate with it.
  absl::flat_hash_map<std::string, std::string> by_token_;
};

/// The status users see: the record with its replicas in order, DEGRADED
/// when the service is READY but some replica is not. Thread-safe.
tether::v1::ServiceStatus StatusOf(const ServiceState& service);

/// How many replicas `record` asks the backend for: its scale when set (0:
/// parked), else the spec's count. Thread-safe.
int32_t RunningReplicas(const tether::v1::ServiceStatus& record);

/// Takes the backend's replica list (`order`, index order) as the service's:
/// new names start as PHASE_STARTING; replicas no longer listed are kept
/// until the backend says they exited.
void SyncReplicas(ServiceState& service, std::vector<std::string> order);

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_SERVICE_REGISTRY_H_
