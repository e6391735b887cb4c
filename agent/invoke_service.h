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
class WorkerPool;

/// The `Agent` gRPC API: the data plane of one replica. Checks the service
/// token, the codec against the loaded spec and the payload size, then hands
/// the call to the worker pool without blocking a gRPC thread. Every call's
/// outcome and latency go to `metrics`; calls handed to the pool count as
/// `activity` (started, then finished however they end), calls refused
/// before that do not.
/// Thread-safe; the pool, metrics and activity must outlive the server.
class InvokeService final : public tether::v1::Agent::CallbackService {
 public:
  InvokeService(WorkerPool* pool, AgentMetrics* metrics,
                ActivityCounters* activity, const std::string& token,
                int64_t max_payload_bytes);

  /// Codecs callers may use from now on (from the loaded spec).
  void SetAllowedCodecs(std::vector<tether::v1::Codec> codecs);

  grpc::ServerUnaryReactor* Invoke(
      grpc::CallbackServerContext* context,
      const tether::v1::InvokeRequest* request,
      tether::v1::InvokeResponse* response) override;

 private:
  WorkerPool* const pool_;
  AgentMetrics* const metrics_;
  ActivityCounters* const activity_;
  // "Bearer <token>": what the authorization metadata must be, built once
  // instead of on every call.
  const std::string authorization_;
  const int64_t max_payload_bytes_;
  absl::Mutex mu_;
  std::vector<tether::v1::Codec> allowed_codecs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_INVOKE_SERVICE_H_
