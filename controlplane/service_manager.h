#ifndef TETHER_CONTROLPLANE_SERVICE_MANAGER_H_
#define TETHER_CONTROLPLANE_SERVICE_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/serial_executor.h"
#include "controlplane/backend.h"
#include "controlplane/call_router.h"
#include "controlplane/service_store.h"
#include "tether/v1/agent.pb.h"
#include "tether/v1/control_plane.pb.h"

namespace tether {
class CodeStore;
}  // namespace tether

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

/// tetherd's side of one agent's Attach stream. Same calling rules as
/// DeployObserver.
class AgentConnection {
 public:
  virtual ~AgentConnection() = default;
  /// Queues a command for the agent.
  virtual void Send(const tether::v1::AgentCommand& command) = 0;
};

/// The control plane's brain: service records, deploy orchestration, replica
/// state from the backend and the agents, and the routes calls take.
/// Thread-safe; one mutex guards all state.
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
    std::function<absl::Time()> now = [] { return absl::Now(); };
    /// Makes the per-service token agents authenticate with.
    std::function<std::string()> new_token;
    /// Runs a deploy's backend apply, which against Kubernetes is several
    /// HTTP round trips (retried with backoff), off the thread that starts
    /// the deploy: a gRPC callback thread must not block on it. Null: a
    /// SerialExecutor the manager owns. Tests pass one that runs inline.
    std::function<void(std::function<void()>)> run_apply;
  };

  static absl::StatusOr<std::unique_ptr<ServiceManager>> Create(
      Options options);

  ~ServiceManager() override;

  /// Loads every record and brings its replicas back to the recorded
  /// revision. Call once at start, after the backend can start replicas.
  absl::Status Recover();
  /// Finishes the backend applies already queued and starts no more. Call
  /// before the backend goes away; the destructor calls it too.
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
  std::vector<tether::v1::ServiceStatus> ListServices() const;
  /// Stops every replica and forgets the service. NOT_FOUND when unknown.
  absl::Status DeleteService(const std::string& name);

  /// An agent said hello. Returns a session id for the calls below.
  /// NOT_FOUND (unknown service), UNAUTHENTICATED (wrong token),
  /// FAILED_PRECONDITION (not a replica the service should have).
  absl::StatusOr<uint64_t> AttachAgent(const tether::v1::AgentHello& hello,
                                       const std::string& token,
                                       AgentConnection* connection);
  void OnRevisionState(uint64_t session,
                       const tether::v1::RevisionState& state);
  void DetachAgent(uint64_t session);
  /// Whether `token` belongs to some service (agents pulling code).
  bool IsAgentToken(const std::string& token) const;
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
  struct Replica {
    tether::v1::ReplicaStatus status;
    AgentConnection* agent = nullptr;
    uint64_t session = 0;
    std::shared_ptr<AgentEndpoint> endpoint;
    // Generation of the last READY answer from the agent.
    int64_t ready_generation = 0;
    int crashes_in_deploy = 0;
  };
  struct Deploy {
    uint64_t id = 0;
    // Null when nobody watches (the client left, or a recovery).
    DeployObserver* observer = nullptr;
  };
  struct Service {
    // The persisted record (no replicas).
    tether::v1::ServiceStatus record;
    // Replica names in index order, as the backend reported them.
    std::vector<std::string> order;
    std::map<std::string, Replica> replicas;
    std::unique_ptr<Deploy> deploy;
    // The revision and spec every replica last served together (a deploy
    // that ended READY), for rolling back a code-only deploy some replicas
    // loaded and one could not. Empty until then; not persisted.
    std::string last_good_revision;
    tether::v1::ServiceSpec last_good_spec;
  };

  explicit ServiceManager(Options options);

  void Emit(Service& service, tether::v1::DeployEvent::Stage stage,
            const std::string& replica, const std::string& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndDeploy(Service& service, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SyncReplicas(Service& service) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendLoad(const Service& service, const Replica& replica)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeFinishDeploy(Service& service) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After `failed` could not load the deploy's revision: when the deploy
  // changed only the code and other replicas already switched, sends every
  // replica back to the last good revision so they serve one revision.
  // Returns whether it did.
  bool RollBack(Service& service, const std::string& failed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateRoute(const Service& service) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets the status message of `replica` (when known) and returns its
  // service; null when the service is unknown.
  Service* SetReplicaMessage(const std::string& service,
                             const std::string& replica,
                             const std::string& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Persist(Service& service) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  tether::v1::ServiceStatus StatusOf(const Service& service) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies the service's spec in the backend, outside the lock (a backend
  // may talk to a remote API), then records the replicas it reports.
  void ApplyInBackend(const std::string& name, int64_t generation)
      ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  // Runs applies when Options::run_apply is null.
  std::unique_ptr<SerialExecutor> own_executor_;
  const std::function<void(std::function<void()>)> run_apply_;
  mutable absl::Mutex mu_;
  std::map<std::string, Service> services_ ABSL_GUARDED_BY(mu_);
  // Attach session id → (service, replica).
  std::map<uint64_t, std::pair<std::string, std::string>> sessions_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_SERVICE_MANAGER_H_
