#ifndef TETHER_CONTROLPLANE_LOCAL_BACKEND_H_
#define TETHER_CONTROLPLANE_LOCAL_BACKEND_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/tls.h"
#include "controlplane/backend.h"

namespace tether::controlplane {

/// Runs each replica as a local `tether-agent` process: the embedded default
/// backend, no cluster needed. Replicas restart after a crash with capped
/// exponential backoff (as Kubernetes does) and die with tetherd
/// (PR_SET_PDEATHSIG): a restarted tetherd starts them again from its
/// records. Resources (cpus, memory, image) are recorded but not enforced
/// locally; `gpus` sets CUDA_VISIBLE_DEVICES.
///
/// Thread-safe. One supervisor thread forks, reaps and restarts agents; it
/// must be the thread that forks because the parent-death signal follows
/// the forking thread. It sleeps until an agent exits (pidfd), Apply, Delete
/// or shutdown wakes it (eventfd), or the next restart or kill is due on the
/// clock. Needs pidfd_open (Linux 5.3+).
class LocalBackend final : public Backend {
 public:
  struct Options {
    /// The tether-agent executable.
    std::string agent_binary;
    /// Replica work dirs go to `<state_dir>/replicas/<replica>`.
    std::string state_dir;
    /// Passed to agents as --max_payload_bytes.
    int64_t max_payload_bytes = 64 << 20;
    /// Passed to agents as --health_listen (HTTP /healthz, /readyz and
    /// /metrics). With port 0 each agent picks its own and logs it to
    /// `<workdir>/agent.log` as "health endpoint on port N". Empty: agents
    /// serve no HTTP.
    std::string agent_health_listen_address;
    /// Agents' TLS, passed as --tls_cert_file, --tls_key_file and
    /// --tls_ca_file (common/tls.h). Empty: plaintext.
    TlsFiles agent_tls;
    /// Restart backoff: 100 ms, doubled per crash up to 10 s; reset once a
    /// replica has run for 30 s.
    Backoff::Options restart_backoff = {
        /*initial=*/absl::Milliseconds(100), /*max=*/absl::Seconds(10),
        /*multiplier=*/2, /*jitter=*/0, /*reset_after=*/absl::Seconds(30)};
    /// How long a stopped agent gets between SIGTERM and SIGKILL.
    absl::Duration stop_grace = absl::Seconds(5);
    /// Time for backoffs and stop deadlines. Not owned; never null.
    Clock* clock = Clock::Real();
  };

  static absl::StatusOr<std::unique_ptr<LocalBackend>> Create(Options options);
  ~LocalBackend() override;

  /// Starts supervising; agents dial `gateway_address` and replica events
  /// go to `listener` (may be null). Kills agents left over by a previous
  /// tetherd first. Call once, before Apply.
  void Start(const std::string& gateway_address, BackendListener* listener);

  /// Every valid spec runs locally but a Kubernetes workload, and an app
  /// needs its command (no pod runs it here).
  absl::Status Validate(const tether::v1::ServiceSpec& spec) const override;
  absl::Status Apply(const tether::v1::ServiceSpec& spec,
                     const std::string& token) override;
  /// Scaled-down replicas keep their work dirs, so they start warm again.
  absl::Status Scale(const tether::v1::ServiceSpec& spec,
                     const std::string& token, int32_t replicas) override;
  absl::Status Delete(const tether::v1::ServiceSpec& spec) override;
  std::vector<std::string> Replicas(const std::string& service) const override;
  /// The end of the replica's agent output file (`<workdir>/agent.log`,
  /// level "agent"): what the agent logged (common/log.h, stamped to the
  /// microsecond) and anything written to its stderr, over every run of the
  /// replica, newest last. Lines without the agent's stamp take the time of
  /// their neighbour. Empty before the agent first started.
  absl::StatusOr<std::vector<tether::v1::LogLine>> ReplicaLogs(
      const std::string& service, const std::string& replica, absl::Time since,
      size_t max_lines) const override;

 private:
  struct Replica {
    explicit Replica(const Backoff::Options& backoff) : backoff(backoff) {}

    std::string service;
    std::string name;
    std::string workdir;
    std::vector<std::string> argv;
    // Set on top of tetherd's environment.
    std::vector<std::pair<std::string, std::string>> env;
    // Identifies the process environment; a change restarts the replica.
    std::string env_key;
    pid_t pid = 0;
    int pidfd = -1;  // Readable once the agent exited.
    bool wanted = true;
    // Stopped by Scale: its work dir stays for a warm start.
    bool keep_workdir = false;
    bool stopping = false;
    absl::Time started;
    absl::Time stop_deadline;
    absl::Time next_start;
    Backoff backoff;
    // Set by Reap when the process ended; reported, then cleared.
    std::optional<ReplicaExit> exit;
  };

  LocalBackend(Options options, int wake_fd);
  // Apply and Scale: runs `count` replicas of `spec` and stops the rest.
  absl::Status Run(const tether::v1::ServiceSpec& spec,
                   const std::string& token, int count, bool keep_workdirs);
  void SupervisorLoop();
  // Makes the supervisor look at the replicas again.
  void Wake();
  // Supervisor thread only.
  // Starts the agent; on failure schedules the next try and says why.
  absl::Status Spawn(Replica& replica) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Reap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends SIGTERM; SIGKILL follows after stop_grace.
  void StopLocked(Replica& replica) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void KillLeftovers();
  Replica MakeReplica(const tether::v1::ServiceSpec& spec,
                      const std::string& token, int index) const;

  const Options options_;
  // eventfd that wakes the supervisor.
  const int wake_fd_;
  // Names this tetherd's agent sockets apart from other tetherds'.
  const std::string instance_id_;
  // Set by Start, before the supervisor thread (its only reader) exists.
  BackendListener* listener_ = nullptr;
  mutable absl::Mutex mu_;
  std::string gateway_address_ ABSL_GUARDED_BY(mu_);
  // Keyed by replica name.
  std::map<std::string, Replica> replicas_ ABSL_GUARDED_BY(mu_);
  // Replica names per service, in index order.
  std::map<std::string, std::vector<std::string>> services_
      ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::thread supervisor_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_LOCAL_BACKEND_H_
