#ifndef TETHER_CONTROLPLANE_AGENT_GATEWAY_SERVICE_H_
#define TETHER_CONTROLPLANE_AGENT_GATEWAY_SERVICE_H_

#include <set>

#include "absl/synchronization/mutex.h"
#include "tether/v1/agent.grpc.pb.h"

namespace tether::controlplane {

class CodeStore;
class ControlPlaneMetrics;
class ServiceManager;

/// The `AgentGateway` gRPC API agents dial: Attach streams feed the
/// ServiceManager, PullCode streams revisions out of the CodeStore.
/// Attached agents are counted in `metrics`.
/// Thread-safe; the pointees must outlive the server.
class AgentGatewayService final
    : public tether::v1::AgentGateway::CallbackService {
 public:
  AgentGatewayService(ServiceManager* manager, CodeStore* code_store,
                      ControlPlaneMetrics* metrics)
      : manager_(manager), code_store_(code_store), metrics_(metrics) {}

  grpc::ServerBidiReactor<tether::v1::AgentMessage, tether::v1::AgentCommand>*
  Attach(grpc::CallbackServerContext* context) override;

  grpc::ServerWriteReactor<tether::v1::PullCodeResponse>* PullCode(
      grpc::CallbackServerContext* context,
      const tether::v1::PullCodeRequest* request) override;

  /// Ends every Attach stream with UNAVAILABLE (agents redial), so server
  /// shutdown does not wait for these endless streams.
  void CloseAttachStreams();

 private:
  class AttachReactor;

  ServiceManager* const manager_;
  CodeStore* const code_store_;
  ControlPlaneMetrics* const metrics_;
  absl::Mutex mu_;
  // Live streams; each removes itself in OnDone.
  std::set<AttachReactor*> attached_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_AGENT_GATEWAY_SERVICE_H_
