#ifndef TETHER_CONTROLPLANE_LOGS_RELAY_H_
#define TETHER_CONTROLPLANE_LOGS_RELAY_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "tether/v1/agent.grpc.pb.h"

namespace tether::controlplane {

struct AgentEndpoint;

/// `ControlPlane.Logs` for one caller: opens `Agent.Logs` on each of
/// `endpoints` and merges their streams into the caller's.
///
/// Bounds: at most kQueuePerReplica messages wait per replica; a full queue
/// pauses reading that agent until the caller takes one, so a slow caller
/// makes the agents fall behind their own bounded books, which count the
/// lines they drop; those counts are relayed as `dropped` messages.
///
/// Order: without `follow`, a line is written only once every agent stream
/// still open has a message waiting (or ended), and the earliest of those
/// goes first: a k-way merge by timestamp, exact as far as each replica's
/// lines are in time order. With `follow` there is no end to wait for, so
/// the earliest waiting line goes at once (the backlog is ordered per
/// replica; across replicas by arrival as much as by time).
///
/// The caller's stream ends when every agent stream ended (OK if any ended
/// OK, else the first error); an agent stream that fails adds a stderr line
/// saying so. A caller that cancels (or whose write fails) cancels every
/// agent stream. Replicas are taken once, at the start. Deletes itself
/// once the caller's stream and every agent stream are done. Thread-safe.
class LogsRelay final
    : public grpc::ServerWriteReactor<tether::v1::LogsResponse> {
 public:
  static constexpr size_t kQueuePerReplica = 32;

  /// `authorization` is the agents' "Bearer <token>"; `endpoints` is not
  /// empty.
  LogsRelay(const tether::v1::LogsRequest& request,
            std::vector<std::shared_ptr<AgentEndpoint>> endpoints,
            const std::string& authorization);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // One agent's `Logs` stream and the messages it read ahead.
  class AgentStream final
      : public grpc::ClientReadReactor<tether::v1::LogsResponse> {
   public:
    AgentStream(LogsRelay* relay, std::shared_ptr<AgentEndpoint> endpoint)
        : relay_(relay), endpoint_(std::move(endpoint)) {}
    void Start(const tether::v1::LogsRequest& request,
               const std::string& authorization);
    void OnReadDone(bool ok) override;
    void OnDone(const grpc::Status& status) override;

   private:
    friend class LogsRelay;
    LogsRelay* const relay_;
    const std::shared_ptr<AgentEndpoint> endpoint_;
    grpc::ClientContext context_;
    tether::v1::LogsResponse incoming_;
    // Guarded by relay_->mu_.
    std::deque<tether::v1::LogsResponse> queue_;
    bool reading_ = true;
    bool ended_ = false;
  };

  // Writes the next message or finishes; fills `resume` with paused
  // streams to read again (outside mu_).
  void PumpLocked(std::vector<AgentStream*>* resume)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancels every agent stream (outside mu_: a reaction may run inline).
  void CancelAgents() ABSL_LOCKS_EXCLUDED(mu_);
  static void Resume(const std::vector<AgentStream*>& resume);
  // One part (the caller's stream, an agent stream) is done; the last one
  // deletes this.
  void PartDone() ABSL_LOCKS_EXCLUDED(mu_);

  const bool follow_;
  tether::v1::LogsRequest agent_request_;
  std::vector<std::unique_ptr<AgentStream>> streams_;

  absl::Mutex mu_;
  int parts_ ABSL_GUARDED_BY(mu_);
  tether::v1::LogsResponse current_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool any_ok_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> first_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_LOGS_RELAY_H_
