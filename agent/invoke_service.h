#ifndef TETHER_AGENT_INVOKE_SERVICE_H_
#define TETHER_AGENT_INVOKE_SERVICE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "tether/v1/agent.grpc.pb.h"

namespace tether::agent {

class ActivityCounters;
class AgentMetrics;
class LogBook;
class WorkerPool;

/// The `Agent` gRPC API: the data plane of one replica. Checks the service
/// token, the codec against the loaded spec and the payload size, then hands
/// the call to the worker pool without blocking a gRPC thread. Every call's
/// outcome and latency go to `metrics`; calls handed to the pool count as
/// `activity` (started, then finished however they end), calls refused
/// before that do not. Both are counted once, when the worker is done with
/// the call.
///
/// A caller that cancels, or whose deadline passes, cancels the call on
/// its worker (WorkerPool: the Python code is interrupted, a native worker
/// is replaced); metrics record CANCELLED / DEADLINE_EXCEEDED.
///
/// `InvokeStream` streams a generator's items as they come, with flow
/// control: the worker may run kStreamWindow items ahead of the writes
/// gRPC has completed, so a slow reader pauses the generator. A
/// non-generator's return value comes as the one `result` event. With
/// `logs`, the call's lines come live (tagged with `replica`), at most
/// kMaxQueuedLogLines queued; the rest are dropped and counted in a
/// `logs_dropped` event. `Invoke` on a generator is INVALID_ARGUMENT.
/// `Logs` streams the replica's recent lines from `log_book` (LogsReactor);
/// it needs the service token as the calls do.
/// Thread-safe; the pool, metrics and activity must outlive the server.
class InvokeService final : public tether::v1::Agent::CallbackService {
 public:
  /// Items a streamed call may be ahead of the completed gRPC writes.
  static constexpr uint32_t kStreamWindow = 32;
  /// Log lines an InvokeStream queues for a slow reader before dropping.
  static constexpr size_t kMaxQueuedLogLines = 256;

  /// `replica` tags the live log lines and stream results. `log_book`
  /// serves `Logs`; null: `Logs` is UNIMPLEMENTED.
  InvokeService(WorkerPool* pool, AgentMetrics* metrics,
                ActivityCounters* activity, const std::string& token,
                int64_t max_payload_bytes, std::string replica,
                LogBook* log_book);

  /// Codecs callers may use from now on (from the loaded spec).
  void SetAllowedCodecs(std::vector<tether::v1::Codec> codecs);
  /// Calls are FAILED_PRECONDITION with `why` from now on (sidecar mode:
  /// the team's server takes the calls, not workers).
  void RefuseCalls(std::string why);

  grpc::ServerUnaryReactor* Invoke(
      grpc::CallbackServerContext* context,
      const tether::v1::InvokeRequest* request,
      tether::v1::InvokeResponse* response) override;

  grpc::ServerWriteReactor<tether::v1::InvokeEvent>* InvokeStream(
      grpc::CallbackServerContext* context,
      const tether::v1::InvokeRequest* request) override;

  grpc::ServerWriteReactor<tether::v1::LogsResponse>* Logs(
      grpc::CallbackServerContext* context,
      const tether::v1::LogsRequest* request) override;

 private:
  // The service token; OK when the caller presented it.
  grpc::Status CheckToken(grpc::CallbackServerContext* context) const;
  // Token, codec and size; OK when the call may go to the pool.
  grpc::Status Check(grpc::CallbackServerContext* context,
                     const tether::v1::InvokeRequest& request);

  WorkerPool* const pool_;
  AgentMetrics* const metrics_;
  ActivityCounters* const activity_;
  // "Bearer <token>": what the authorization metadata must be, built once
  // instead of on every call.
  const std::string authorization_;
  const int64_t max_payload_bytes_;
  const std::string replica_;
  LogBook* const log_book_;
  absl::Mutex mu_;
  std::vector<tether::v1::Codec> allowed_codecs_ ABSL_GUARDED_BY(mu_);
  // Set by RefuseCalls.
  std::string refused_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_INVOKE_SERVICE_H_
