#ifndef TETHER_CONTROLPLANE_ENDPOINTS_PUBLISHER_H_
#define TETHER_CONTROLPLANE_ENDPOINTS_PUBLISHER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controlplane/service_listener.h"
#include "tether/v1/control_plane.pb.h"

namespace tether::controlplane {

/// What clients that call agents directly need to know of `service`: its
/// routable replicas in replica order (name, address, revision), the token
/// and codecs, whether it is parked and why nothing may be ready. A pure
/// function of `service`. Thread-safe.
tether::v1::Endpoints BuildEndpoints(const ServiceState& service);

/// One subscriber to a service's endpoints (a WatchEndpoints stream).
/// Called under the publisher's lock, in order: must not block and must not
/// call back into the publisher.
class EndpointsWatcher {
 public:
  virtual ~EndpointsWatcher() = default;
  /// The service's endpoints now (the first call: when the watch starts).
  virtual void OnEndpoints(
      std::shared_ptr<const tether::v1::Endpoints> endpoints) = 0;
  /// The service was deleted; no call follows.
  virtual void OnRemoved() = 0;
};

/// Keeps every service's endpoints and pushes each change to the watchers
/// of that service, only when what a client sees changed (a phase change
/// that moves no replica is not pushed). Thread-safe.
class EndpointsPublisher final : public ServiceListener {
 public:
  /// `tls_server_name`: the name agents' TLS certificates carry, published
  /// with every service's endpoints; empty: agents serve plaintext.
  explicit EndpointsPublisher(std::string tls_server_name = {})
      : tls_server_name_(std::move(tls_server_name)) {}

  /// Subscribes `watcher` to `service` and calls it with the current
  /// endpoints before returning. NOT_FOUND when the service is unknown.
  /// Returns the id for Unwatch.
  absl::StatusOr<uint64_t> Watch(const std::string& service,
                                 EndpointsWatcher* watcher);
  /// Ends a watch; once this returns the watcher is not called again.
  void Unwatch(uint64_t id);

  void OnServiceChanged(const ServiceState& service) override;
  void OnServiceRemoved(const std::string& name) override;

 private:
  struct Entry {
    std::shared_ptr<const tether::v1::Endpoints> current;
    std::map<uint64_t, EndpointsWatcher*> watchers;
  };

  const std::string tls_server_name_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> services_ ABSL_GUARDED_BY(mu_);
  // Watch id -> its service.
  absl::flat_hash_map<uint64_t, std::string> watches_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_ENDPOINTS_PUBLISHER_H_
