#ifndef TETHER_CONTROLPLANE_LOGS_RELAY_H_
#define TETHER_CONTROLPLANE_LOGS_RELAY_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controlplane/endpoints_publisher.h"
#include "grpcpp/grpcpp.h"
#include "tether/v1/agent.grpc.pb.h"

namespace tether::controlplane {

class Backend;
class CallRouter;
struct AgentEndpoint;

/// `ControlPlane.Logs` for one caller. Each replica of the service (or the
/// one named) is a source of lines:
/// - a ready replica (its agent attached): `Agent.Logs`, its agent's book;
/// - a replica the backend has that is not ready (pending, starting, crash
///   looping): what it printed itself, Backend::ReplicaLogs (on Kubernetes
///   the pod log), read once, on `Options::run`, since the request's
///   `since`, at most kPlatformLogLines lines;
/// - with `follow`, a replica that becomes ready while the relay runs (the
///   EndpointsPublisher says so): its `Agent.Logs` since the request's
///   `since`, as for the replicas ready at the start, so nothing it printed
///   since is missed. A replica whose stream this relay read before (its
///   agent went away, or re-attached) gets a new stream only for a new
///   attachment, and from just after the last line relayed from it.
///
/// Bounds: at most kQueuePerReplica messages wait per agent stream; a full
/// queue pauses reading that agent until the caller takes one, so a slow
/// caller makes the agents fall behind their own bounded books, which count
/// the lines they drop; those counts are relayed as `dropped` messages. A
/// replica's own log is at most kPlatformLogLines lines (and
/// Backend::kReplicaLogsMaxBytes), held until written. A source that ended
/// and was written is let go, so a long follow over replicas that come and
/// go stays bounded.
///
/// Order: without `follow`, a line is written only once every source still
/// open has a message waiting (or ended), and the earliest of those goes
/// first: a k-way merge by timestamp, exact as far as each source's lines
/// are in time order. With `follow` there is no end to wait for, so the
/// earliest waiting line goes at once (the backlog is ordered per source;
/// across sources by arrival as much as by time).
///
/// End: without `follow`, once every source ended: OK if any ended OK,
/// else the first error; an agent stream that fails, or a replica's own log
/// that cannot be read, adds a stderr line saying so. With `follow`, when
/// the service is deleted (OK, with a line saying so, once what its agents
/// sent is written; their streams are cancelled); without an
/// EndpointsPublisher, once every source ended. A caller that cancels (or
/// whose write fails) cancels every agent stream, those added later too.
/// Deletes itself once the caller's stream, every agent stream and every
/// task it gave `run` are done. Thread-safe.
class LogsRelay final
    : public grpc::ServerWriteReactor<tether::v1::LogsResponse> {
 public:
  static constexpr size_t kQueuePerReplica = 32;
  static constexpr size_t kPlatformLogLines = 200;

  /// Not owned; all but `endpoints` required. Must outlive every relay and
  /// every task given to `run`.
  struct Options {
    /// The service's ready replicas and the agents' authorization.
    const CallRouter* router = nullptr;
    /// The service's replicas, and what the ones not ready printed.
    const Backend* backend = nullptr;
    /// Runs a task soon on another thread, off RPC threads and outside
    /// locks: backend reads may wait on the network, and streams of
    /// replicas that became ready start there. Every task given must run.
    std::function<void(std::function<void()>)> run;
    /// With `follow`: tells when the service's ready replicas change, or
    /// that it was deleted. Null: replicas are taken once, at the start.
    EndpointsPublisher* endpoints = nullptr;
  };

  /// Starts relaying what `request` asks for; the relay is the caller's
  /// stream reactor and deletes itself. NOT_FOUND for an unknown service or
  /// a replica it does not have; UNAVAILABLE (saying why) when it has no
  /// replica at all.
  static absl::StatusOr<LogsRelay*> Start(
      const tether::v1::LogsRequest& request, const Options& options);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  class AgentStream;

  // One source's part of the merge: what it read and did not write yet.
  // Its fields are guarded by the relay's mu_.
  class Source {
   public:
    explicit Source(std::string replica) : replica_(std::move(replica)) {}
    virtual ~Source() = default;
    // This source as an agent stream; null for a replica's own log.
    virtual AgentStream* AsAgentStream() { return nullptr; }

    const std::string replica_;
    std::deque<tether::v1::LogsResponse> queue_;
    // Nothing more will be queued.
    bool ended_ = false;
  };

  // One agent's `Logs` stream. A hold keeps it from ending while a read
  // may still be started from outside its reactions (Resume,
  // CancelAgents); it is let go when a read comes back empty.
  class AgentStream final
      : public Source,
        public grpc::ClientReadReactor<tether::v1::LogsResponse> {
   public:
    AgentStream(LogsRelay* relay, std::shared_ptr<AgentEndpoint> endpoint,
                tether::v1::LogsRequest request);
    // Outside mu_.
    void Start(const std::string& authorization);
    AgentStream* AsAgentStream() override { return this; }
    // Paused on its full queue: marks it reading and returns true; the
    // caller reads it again outside mu_. Under relay_->mu_.
    bool TakePaused();
    void OnReadDone(bool ok) override;
    void OnDone(const grpc::Status& status) override;

   private:
    friend class LogsRelay;
    LogsRelay* const relay_;
    const std::shared_ptr<AgentEndpoint> endpoint_;
    const tether::v1::LogsRequest request_;
    grpc::ClientContext context_;
    tether::v1::LogsResponse incoming_;
    // Guarded by relay_->mu_: a read is outstanding.
    bool reading_ = true;
  };

  // Tells the relay of route changes and of the service's deletion.
  class Watcher final : public EndpointsWatcher {
   public:
    explicit Watcher(LogsRelay* relay) : relay_(relay) {}
    void OnEndpoints(
        std::shared_ptr<const tether::v1::Endpoints> endpoints) override;
    void OnRemoved() override;

   private:
    LogsRelay* const relay_;
  };

  // What the relay knows of a replica's agent streams.
  struct Streamed {
    // The attachment last streamed; another one gets a new stream.
    std::weak_ptr<AgentEndpoint> endpoint;
    bool open = false;
    // The time of the last line relayed from it.
    std::optional<absl::Time> last_line;
  };

  LogsRelay(const tether::v1::LogsRequest& request, const Options& options,
            std::string authorization);
  // Starts the streams of `ready`, reads what `others` printed on
  // options_.run, and watches for new replicas.
  void Begin(const std::vector<std::shared_ptr<AgentEndpoint>>& ready,
             const std::vector<std::string>& others);
  // A stream for `endpoint` unless one is open or it was streamed; the
  // caller starts it outside mu_.
  AgentStream* AddStreamLocked(const std::shared_ptr<AgentEndpoint>& endpoint)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // On options_.run: reads the own logs of `sources` from the backend.
  void ReadReplicaLogs(const std::vector<Source*>& sources)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Looks for ready replicas without a stream, on options_.run, unless a
  // look is already due.
  void SchedulePickUpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PickUp() ABSL_LOCKS_EXCLUDED(mu_);
  void OnStreamDone(AgentStream* stream, const grpc::Status& status)
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnServiceRemoved() ABSL_LOCKS_EXCLUDED(mu_);
  // Writes the next message or finishes; fills `resume` with paused
  // streams to read again (outside mu_). Lets go of sources that ended and
  // were written (not once cancelled or removed: CancelAgents may hold
  // them then).
  void PumpLocked(std::vector<AgentStream*>* resume)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A stderr line from tetherd about `replica`, queued as a source of its
  // own.
  void NoteLocked(const std::string& replica, const std::string& text)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancels every agent stream (outside mu_: a reaction may run inline).
  // Only once cancelled_ or removed_ is set.
  void CancelAgents() ABSL_LOCKS_EXCLUDED(mu_);
  static void Resume(const std::vector<AgentStream*>& resume);
  // One part (the caller's stream, an agent stream, a task on
  // options_.run) is done; the last one deletes this.
  void PartDone() ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  const std::string service_;
  // Only this replica; empty: all.
  const std::string replica_;
  const bool follow_;
  // The request's `since`; InfinitePast when unset.
  const absl::Time since_;
  const std::string authorization_;
  Watcher watcher_{this};
  // Set by Begin, before any call of the watcher can need it.
  std::optional<uint64_t> watch_id_;

  absl::Mutex mu_;
  int parts_ ABSL_GUARDED_BY(mu_) = 1;
  std::list<std::unique_ptr<Source>> sources_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Streamed> streamed_ ABSL_GUARDED_BY(mu_);
  // Replicas come and go while this is set (follow, service not deleted).
  bool watching_ ABSL_GUARDED_BY(mu_) = false;
  bool pick_up_due_ ABSL_GUARDED_BY(mu_) = false;
  bool removed_ ABSL_GUARDED_BY(mu_) = false;
  tether::v1::LogsResponse current_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool any_ok_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> first_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_LOGS_RELAY_H_
