#ifndef TETHER_CONTROLPLANE_BACKEND_H_
#define TETHER_CONTROLPLANE_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tether/v1/call.pb.h"
#include "tether/v1/service.pb.h"

namespace tether::controlplane {

/// Why a replica's process or pod stopped, as a backend reports it.
struct ReplicaExit {
  enum class Cause {
    /// The backend stopped it: deleted, scaled down, or stopped to start it
    /// again with a new environment.
    kStoppedByBackend,
    /// It ended on its own: the process exited or was killed, or its
    /// container restarted.
    kCrashed,
    /// Its pod was deleted or is terminating (Kubernetes decides what
    /// replaces it).
    kPodRemoved,
  };

  /// "stopped", "crashed", "pod removed".
  static const char* CauseName(Cause cause);

  Cause cause = Cause::kCrashed;
  /// For people: what happened, with the tail of its log when it crashed.
  std::string description;
  /// False when the replica is gone for good (deleted, scaled down, or
  /// given up on after repeated crashes).
  bool will_restart = false;
};

inline const char* ReplicaExit::CauseName(Cause cause) {
  switch (cause) {
    case Cause::kStoppedByBackend:
      return "stopped";
    case Cause::kCrashed:
      return "crashed";
    case Cause::kPodRemoved:
      return "pod removed";
  }
  return "unknown";
}

/// What a backend tells the control plane about replica processes or pods.
/// Called from backend threads; implementations must not block for long and
/// must not call back into the backend.
class BackendListener {
 public:
  virtual ~BackendListener() = default;
  /// The replica's process or pod started (again, after a restart).
  virtual void OnReplicaStarted(const std::string& service,
                                const std::string& replica) = 0;
  /// The replica stopped; `exit` says why and whether it comes back.
  virtual void OnReplicaExited(const std::string& service,
                               const std::string& replica,
                               const ReplicaExit& exit) = 0;
  /// The replica is on its way but not running yet (waiting for a node,
  /// pulling its image); `message` says where it is.
  virtual void OnReplicaPending(const std::string& service,
                                const std::string& replica,
                                const std::string& message) = 0;
  /// The replica cannot become ready without a change by someone: its
  /// image cannot be pulled, no node fits it, it crash-loops or runs out of
  /// memory. `problem` says which, with the cluster's message. The backend
  /// keeps trying; a deploy in progress should stop and say why.
  virtual void OnReplicaFailing(const std::string& service,
                                const std::string& replica,
                                const std::string& problem) = 0;
};

/// Where replicas run: local processes or Kubernetes pods. Thread-safe.
class Backend {
 public:
  virtual ~Backend() = default;

  /// INVALID_ARGUMENT naming the field when this backend cannot run `spec`
  /// (e.g. Kubernetes needs `compute.image`). Checked before a deploy is
  /// recorded, so a spec that cannot run changes nothing.
  virtual absl::Status Validate(const tether::v1::ServiceSpec& spec) const = 0;

  /// Makes the replicas of `spec.name()` match `spec` (count, environment,
  /// resources) and connect back with `token`. Idempotent: replicas whose
  /// runtime environment did not change keep running, so a code-only
  /// redeploy costs nothing here.
  virtual absl::Status Apply(const tether::v1::ServiceSpec& spec,
                             const std::string& token) = 0;

  /// Runs `replicas` replicas of `spec.name()` (>= 0) instead of the count
  /// Apply runs, changing nothing else; 0 stops them all but keeps the
  /// service (its Kubernetes Service, so callers still resolve it; local
  /// work dirs, so a wake-up starts warm). Works whether or not this
  /// process applied the service before (tetherd restarted). The next Apply
  /// brings back the spec's count.
  virtual absl::Status Scale(const tether::v1::ServiceSpec& spec,
                             const std::string& token, int32_t replicas) = 0;

  /// Stops and removes every replica of the service `spec` describes (the
  /// spec it was last applied with: it names what to remove). OK when there
  /// are none.
  virtual absl::Status Delete(const tether::v1::ServiceSpec& spec) = 0;

  /// Names of the replicas `service` has now, in index order. Local
  /// replicas are "<service>-<index>" and known as soon as Apply returns;
  /// Kubernetes replicas are the service's pods, which come and go (rolling
  /// updates, rescheduling): OnReplicaStarted announces a new one and
  /// OnReplicaExited (will_restart false) one that is gone.
  virtual std::vector<std::string> Replicas(
      const std::string& service) const = 0;

  /// ReplicaLogs returns at most this much text per replica.
  static constexpr size_t kReplicaLogsMaxBytes = 64 << 10;

  /// What `replica` of `service` printed itself, as the platform keeps it:
  /// the output of its process (the agent, and whatever its workers wrote
  /// outside the capture that feeds the agent's log book), not the lines
  /// `Agent.Logs` serves. It shows why a replica never became ready (the
  /// agent could not start, load or reach tetherd; a crash loop).
  /// Kubernetes: the pod log of the `tether` container (its last run while
  /// it waits to restart; the run before, then this one, once it
  /// restarted); local: the tail of the agent's output file.
  /// Lines stamped at or after `since` (InfinitePast: all that are kept),
  /// the last `max_lines` of them and at most kReplicaLogsMaxBytes of text,
  /// oldest first, each with `replica`, `time` and `text`, no request id,
  /// STREAM_UNSPECIFIED (stdout and stderr are not told apart) and `level`
  /// saying where it came from: "pod" or "agent". Empty when nothing was
  /// printed yet (a pod still pulling its image). NOT_FOUND when `replica`
  /// is not one of `service`'s replicas; the platform's errors otherwise.
  /// May wait on the network (Kubernetes API round trips, with retries):
  /// call it off RPC threads and outside locks.
  virtual absl::StatusOr<std::vector<tether::v1::LogLine>> ReplicaLogs(
      const std::string& service, const std::string& replica, absl::Time since,
      size_t max_lines) const = 0;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_BACKEND_H_
