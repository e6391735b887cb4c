#ifndef TETHER_CONTROLPLANE_TTL_CONTROLLER_H_
#define TETHER_CONTROLPLANE_TTL_CONTROLLER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "controlplane/service_listener.h"
#include "tether/v1/control_plane.pb.h"

namespace tether::controlplane {

class ActivityTracker;
class Activator;
class ServiceStore;

/// Acts on inactivity TTLs. Once `compute.inactivity_ttl` has passed since a
/// service's last activity (its deploy, for a service never called) with no
/// call in flight, it scales the service to zero or deletes it, as
/// `compute.ttl_action` says, through Activator::StopIfIdle, so never under
/// a running proxied call. It also keeps last activity durable: restored at
/// Create, written when it changed at most every `persist_interval` and at
/// destruction (a crash loses at most that much, which only makes a TTL act
/// that much earlier). One thread of its own, on the Clock. Thread-safe.
class TtlController final : public ServiceListener {
 public:
  struct Options {
    ActivityTracker* activity = nullptr;
    Activator* activator = nullptr;
    /// Persists last activity. Required.
    ServiceStore* store = nullptr;
    /// Parks `service` (ServiceManager::Scale to 0, `why` as its message).
    std::function<absl::Status(const std::string& service,
                               const std::string& why)>
        scale_to_zero;
    /// Deletes `service` (ServiceManager::DeleteService).
    std::function<absl::Status(const std::string& service)> remove;
    /// Told of every action taken ("scale_to_zero", "delete"), for metrics.
    /// May be null.
    std::function<void(const std::string& action)> on_action;
    /// How often idle services are looked for: a TTL acts at most this
    /// late.
    absl::Duration check_interval = absl::Seconds(1);
    absl::Duration persist_interval = absl::Seconds(10);
    Clock* clock = Clock::Real();
  };

  /// Restores last activity from the store. INVALID_ARGUMENT without the
  /// required options; the store's error when it cannot be read.
  static absl::StatusOr<std::unique_ptr<TtlController>> Create(Options options);
  /// Shutdown.
  ~TtlController() override;

  /// Stops acting and persists last activity once more. Idempotent.
  void Shutdown();

  /// `service`'s activity with idle_action_at filled in: when its TTL acts
  /// if no call comes (unset without a TTL or while parked).
  tether::v1::ServiceActivity ActivityOf(const std::string& service) const;

  void OnServiceChanged(const ServiceState& service) override;
  void OnServiceRemoved(const std::string& name) override;

  /// Looks for idle services once, now (the thread does this every
  /// check_interval).
  void CheckNow();

 private:
  struct Entry {
    std::optional<absl::Duration> ttl;
    tether::v1::TtlAction action = tether::v1::TTL_ACTION_UNSPECIFIED;
    bool parked = false;
    int64_t generation = 0;
    // An action is under way; not asked twice.
    bool acting = false;
  };

  explicit TtlController(Options options);
  void Loop();
  void Persist();
  // Scales `service` to zero or deletes it, if it is still idle.
  void Act(const std::string& service, const Entry& entry);

  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> services_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The last write failed: the next Persist writes even if nothing changed.
  // Used by the thread, then by the destructor after joining it.
  bool persist_failed_ = false;
  std::thread thread_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_TTL_CONTROLLER_H_
