#ifndef TETHER_CONTROLPLANE_CALL_STREAM_REACTOR_H_
#define TETHER_CONTROLPLANE_CALL_STREAM_REACTOR_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controlplane/control_plane_metrics.h"
#include "grpcpp/grpcpp.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::controlplane {

class Activator;
class CallRouter;
struct AgentEndpoint;

/// `ControlPlane.CallStream` for one call: the activator admits it (waking
/// a parked service), then the agent's `InvokeStream` is relayed to the
/// caller event by event. The next event is read from the agent only once
/// the caller has taken the previous one, so a slow caller pauses the
/// remote generator and tetherd holds one event per stream; a caller that
/// goes away (or whose deadline passes) cancels the agent's stream, which
/// stops the generator. A call that woke its service says so in the
/// trailing metadata, as `Call` does, and it is counted in the call
/// metrics as a `Call` is. Deletes itself when done.
class CallStreamReactor final
    : public grpc::ServerWriteReactor<tether::v1::InvokeEvent> {
 public:
  /// `request` must outlive the reactor (gRPC's request message does).
  CallStreamReactor(grpc::CallbackServerContext* context,
                    const tether::v1::CallRequest* request, CallRouter* router,
                    Activator* activator, ControlPlaneMetrics* metrics,
                    absl::Time deadline);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // The agent side of the relay.
  class AgentStream final
      : public grpc::ClientReadReactor<tether::v1::InvokeEvent> {
   public:
    explicit AgentStream(CallStreamReactor* relay) : relay_(relay) {}
    void OnReadDone(bool ok) override;
    void OnDone(const grpc::Status& status) override;

   private:
    CallStreamReactor* const relay_;
  };

  // Admitted: starts the agent's stream.
  void Proceed(std::optional<absl::Duration> woke_after);
  // Ends the caller's stream with `status` once no write is in flight.
  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One part (the admission, the caller's stream, the agent's stream) is
  // done; the last one deletes this.
  void PartDone() ABSL_LOCKS_EXCLUDED(mu_);

  grpc::CallbackServerContext* const context_;
  const tether::v1::CallRequest* const request_;
  CallRouter* const router_;
  Activator* const activator_;
  ControlPlaneMetrics* const metrics_;
  const ControlPlaneMetrics::CallStart start_;
  const absl::Time deadline_;
  AgentStream agent_{this};
  grpc::ClientContext agent_context_;
  tether::v1::InvokeRequest invoke_;
  // One event at a time: read from the agent, then written to the caller.
  tether::v1::InvokeEvent event_;

  absl::Mutex mu_;
  // Parts still running: the admission, the caller's stream, and the
  // agent's stream once started.
  int parts_ ABSL_GUARDED_BY(mu_) = 2;
  bool agent_started_ ABSL_GUARDED_BY(mu_) = false;
  // The agent's stream called OnDone: gRPC frees it, so no more reads.
  bool agent_done_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // The status to finish with once the write in flight is done.
  std::optional<grpc::Status> pending_finish_ ABSL_GUARDED_BY(mu_);
  // The agent stream's replica, counted in flight while it runs.
  std::shared_ptr<AgentEndpoint> endpoint_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_CALL_STREAM_REACTOR_H_
