#ifndef TETHER_CONTROLPLANE_DEPLOY_TRACKER_H_
#define TETHER_CONTROLPLANE_DEPLOY_TRACKER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "tether/v1/control_plane.pb.h"

namespace tether::controlplane {

/// Receives the progress of one Deploy. Called with the ServiceManager's
/// lock held, so calls arrive in order: implementations must not block and
/// must not call back into the ServiceManager.
class DeployObserver {
 public:
  virtual ~DeployObserver() = default;
  virtual void OnEvent(const tether::v1::DeployEvent& event) = 0;
  /// Last call: OK after STAGE_READY, else why the deploy stopped.
  virtual void OnDone(const absl::Status& status) = 0;
};

/// The deploy in progress of each service: its id, who watches it, its
/// events and its end. At most one per service. Not thread-safe: the
/// ServiceManager calls it under its lock.
class DeployTracker {
 public:
  /// `clock` stamps the events; it must outlive the tracker.
  explicit DeployTracker(Clock* clock);

  /// Tracks a new deploy of `service`, watched by `observer`: a client's
  /// deploy. Null when nobody asked for it: tetherd drives a wake-up or
  /// the recovery after a restart the same way. End the previous one
  /// first. Returns the deploy's id for Detach.
  uint64_t Start(const std::string& service, DeployObserver* observer);
  bool InProgress(const std::string& service) const;
  /// A client asked for `service`'s deploy in progress (even if it went
  /// away since).
  bool Requested(const std::string& service) const;
  /// Tells the observer of `service`'s deploy, if there is one.
  void Emit(const std::string& service, tether::v1::DeployEvent::Stage stage,
            const std::string& replica, const std::string& message);
  /// Ends `service`'s deploy; its observer gets `status` last. Returns
  /// false when no deploy was in progress.
  bool End(const std::string& service, const absl::Status& status);
  /// Forgets the observer of deploy `id` (its client went away); the deploy
  /// goes on.
  void Detach(uint64_t id);

 private:
  struct Deploy {
    uint64_t id = 0;
    // Null when nobody watches.
    DeployObserver* observer = nullptr;
    bool requested = false;
  };

  Clock* const clock_;
  // Service name → its deploy in progress.
  std::map<std::string, Deploy> deploys_;
  uint64_t next_id_ = 1;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_DEPLOY_TRACKER_H_
