#ifndef TETHER_CONTROLPLANE_SERVICE_MANAGER_H_
#define TETHER_CONTROLPLANE_SERVICE_MANAGER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/serial_executor.h"
#include "controlplane/agent_sessions.h"
#include "controlplane/backend.h"
#include "controlplane/call_router.h"
#include "controlplane/deploy_tracker.h"
#include "controlplane/routes.h"
#include "controlplane/service_listener.h"
#include "controlplane/service_registry.h"
#include "controlplane/service_state.h"
#include "controlplane/service_store.h"
#include "tether/v1/agent.pb.h"
#include "tether/v1/control_plane.pb.h"

namespace tether::controlplane {

class CodeStore;

/// Coordinates the control plane's rooms: takes deploys and deletes from the
/// API, replica events from the backend and revision reports from the
/// agents, and drives the service registry, the deploy tracker and the agent
/// sessions with them; every ServiceListener (the routes first) hears what
/// changed. Thread-safe: one mutex guards the rooms, which are plain data
/// and logic; no gRPC channel is made under it, and backend applies and
/// deletes run outside it (only the backend's in-memory replica list is read
/// under it).
class ServiceManager final : public BackendListener {
 public:
  struct Options {
    Backend* backend = nullptr;
    ServiceStore* store = nullptr;
    const CodeStore* code_store = nullptr;
    CallRouter* router = nullptr;
    /// A deploy fails when one of its replicas crashes this often before
    /// it is ready (instead of waiting forever in a crash loop).
    int max_crashes_per_deploy = 3;
    /// Stamps records and deploy events. Never null.
    Clock* clock = Clock::Real();
    /// Makes the per-service token agents authenticate with.
    std::function<std::string()> new_token;
    /// Runs a deploy's backend apply, which against Kubernetes is several
    /// HTTP round trips (retried with backoff), off the thread that starts
    /// the deploy: a gRPC callback thread must not block on it. Null: a
    /// SerialExecutor the manager owns. Tests pass one that runs inline.
    std::function<void(std::function<void()>)> run_apply;
    /// Recorded for a spec without ServiceSpec.namespace (and for records
    /// stored before namespaces existed): the backend's own namespace.
    std::string default_namespace = "default";
  };

  static absl::StatusOr<std::unique_ptr<ServiceManager>> Create(
      Options options);

  ~ServiceManager() override;

  /// Adds a listener told of every service change from now on, after the
  /// routes. Call before Recover; `listener` must outlive the manager.
  void AddListener(ServiceListener* listener);

  /// Loads every record and brings its replicas back to the recorded
  /// revision. Call once at start, after the backend can start replicas.
  absl::Status Recover();
  /// Finishes the backend applies and deletes already queued and starts no
  /// more. Call before the backend goes away; the destructor calls it too.
  void Shutdown();

  /// Validates and records the deploy, then drives it; progress and the end
  /// go to `observer` until the deploy ends or CancelDeploy. A returned
  /// error means nothing changed and the observer is never called.
  /// Returns an id for CancelDeploy.
  absl::StatusOr<uint64_t> StartDeploy(const tether::v1::DeployRequest& request,
                                       DeployObserver* observer);
  /// Detaches the observer (the client went away); the deploy goes on.
  void CancelDeploy(uint64_t deploy_id);

  absl::StatusOr<tether::v1::ServiceStatus> GetService(
      const std::string& name) const;
  /// The namespace `name` is recorded in; nullopt for an unknown service.
  std::optional<std::string> NamespaceOf(const std::string& name) const;
  /// The namespace a deploy of `spec` records: its own, else the default.
  std::string NamespaceFor(const tether::v1::ServiceSpec& spec) const;
  /// Options::default_namespace, where the backend's own objects live.
  const std::string& default_namespace() const {
    return options_.default_namespace;
  }
  std::vector<tether::v1::ServiceStatus> ListServices() const;
  /// Stops every replica and forgets the service, on an executor the
  /// manager owns (stopping replicas waits for processes or pods), then
  /// calls `done` from that thread: NOT_FOUND when unknown, UNAVAILABLE
  /// after Shutdown.
  void DeleteService(const std::string& name,
                     std::function<void(absl::Status)> done);

  /// Runs `replicas` replicas of `name` until the next deploy: 0 parks it
  /// (PHASE_IDLE, `why` as its message); nullopt returns to the spec's
  /// count, waking a parked service (the replicas start and attach, and the
  /// service turns READY, or FAILED with the reason they cannot start). The
  /// record is stored first, then the backend scales on the apply
  /// executor. INVALID_ARGUMENT for a negative count, NOT_FOUND,
  /// FAILED_PRECONDITION for a distributed service asked for other than 0
  /// or all of its workers, or the store's error (then nothing changed).
  absl::StatusOr<tether::v1::ServiceStatus> Scale(
      const std::string& name, std::optional<int32_t> replicas,
      const std::string& why);

  /// An agent said hello. Returns a session id for the calls below.
  /// UNAUTHENTICATED, the same for an unknown service and a wrong token (so
  /// service names cannot be probed); FAILED_PRECONDITION (not a replica
  /// the service should have).
  absl::StatusOr<uint64_t> AttachAgent(const tether::v1::AgentHello& hello,
                                       const std::string& token,
                                       AgentConnection* connection);
  void OnRevisionState(uint64_t session,
                       const tether::v1::RevisionState& state);
  void DetachAgent(uint64_t session);
  /// The service whose agents hold `token` (agents pulling code, reporting
  /// activity); nullopt when no service does.
  std::optional<std::string> ServiceForAgentToken(
      const std::string& token) const;
  /// Whether the agent holding `token` may pull `revision`: only its own
  /// service's (the one it is deployed at, the last good one it may roll
  /// back to, and those its replicas serve). UNAUTHENTICATED for an unknown
  /// token, PERMISSION_DENIED for another revision, whether or not it
  /// exists.
  absl::Status CheckAgentPull(const std::string& token,
                              const std::string& revision) const;
  /// Revisions in use: what each service is deployed at and what each of
  /// its replicas serves. The code store keeps them.
  absl::flat_hash_set<std::string> LiveRevisions() const;

  // BackendListener.
  void OnReplicaStarted(const std::string& service,
                        const std::string& replica) override;
  void OnReplicaExited(const std::string& service, const std::string& replica,
                       const ReplicaExit& exit) override;
  void OnReplicaPending(const std::string& service, const std::string& replica,
                        const std::string& message) override;
  void OnReplicaFailing(const std::string& service, const std::string& replica,
                        const std::string& problem) override;

 private:
  explicit ServiceManager(Options options);

  // OK when `request` may be deployed: a valid spec (with defaults) the
  // backend can run, and a revision the code store has.
  absl::Status CheckDeploy(const tether::v1::DeployRequest& request,
                           const tether::v1::ServiceSpec& spec) const;
  // DeleteService's work, on the delete executor.
  absl::Status Delete(const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);
  // Tells every listener that `service` changed.
  void Changed(const ServiceState& service) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Emit(const ServiceState& service, tether::v1::DeployEvent::Stage stage,
            const std::string& replica, const std::string& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends `name`'s deploy, if one is in progress, and tells the listeners.
  void EndTrackedDeploy(const std::string& name, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the service's deploy, if one is in progress; a failure is recorded.
  void EndDeploy(ServiceState& service, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SyncReplicas(ServiceState& service) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeFinishDeploy(ServiceState& service)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A current-generation revision failed to load on `replica`.
  void FailLoad(ServiceState& service, const std::string& replica,
                const tether::v1::RevisionState& state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets the status message of `replica` (when known) and returns its
  // service; null when the service is unknown.
  ServiceState* SetReplicaMessage(const std::string& service,
                                  const std::string& replica,
                                  const std::string& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies the service's spec in the backend, outside the lock (a backend
  // may talk to a remote API), then records the replicas it reports.
  void ApplyInBackend(const std::string& name, int64_t generation)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Scales the backend to what the record of generation `generation` asks
  // (when it still does), outside the lock, then takes the replicas it
  // reports.
  void ScaleInBackend(const std::string& name, int64_t generation)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The second half of ApplyInBackend: the apply's outcome, under the lock.
  void Applied(ServiceState& service, const absl::Status& applied)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  // Runs applies when Options::run_apply is null.
  std::unique_ptr<SerialExecutor> own_executor_;
  const std::function<void(std::function<void()>)> run_apply_;
  // Runs deletes (never inline: their RPC thread must not wait).
  SerialExecutor delete_executor_;
  RoutePublisher routes_;
  mutable absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  ServiceRegistry registry_ ABSL_GUARDED_BY(mu_);
  DeployTracker deploys_ ABSL_GUARDED_BY(mu_);
  AgentSessions sessions_ ABSL_GUARDED_BY(mu_);
  // The routes first, then what AddListener added.
  std::vector<ServiceListener*> listeners_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_SERVICE_MANAGER_H_
