#ifndef TETHER_CONTROLPLANE_SERVICE_STATE_H_
#define TETHER_CONTROLPLANE_SERVICE_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/call_router.h"
#include "tether/v1/agent.pb.h"
#include "tether/v1/control_plane.pb.h"

namespace tether::controlplane {

/// tetherd's side of one agent's Attach stream. Called with the
/// ServiceManager's lock held, so commands arrive in order: implementations
/// must not block and must not call back into the ServiceManager.
class AgentConnection {
 public:
  virtual ~AgentConnection() = default;
  /// Queues a command for the agent.
  virtual void Send(const tether::v1::AgentCommand& command) = 0;
};

/// One replica as the control plane knows it: what the backend and its
/// agent last said. Plain data; its owner guards it.
struct ReplicaState {
  tether::v1::ReplicaStatus status;
  // The attached agent; null while none is.
  AgentConnection* agent = nullptr;
  // The Attach session of `agent`; 0 while none is.
  uint64_t session = 0;
  // How calls reach the agent; null while none is attached.
  std::shared_ptr<AgentEndpoint> endpoint;
  // Generation of the last READY answer from the agent.
  int64_t ready_generation = 0;
  int crashes_in_deploy = 0;
};

/// One service: its desired state (the persisted record) and its replicas.
/// Plain data; its owner guards it.
struct ServiceState {
  // The persisted record (no replicas).
  tether::v1::ServiceStatus record;
  // Replica names in index order, as the backend reported them.
  std::vector<std::string> order;
  std::map<std::string, ReplicaState> replicas;
  // The revision and spec every replica last served together (a deploy
  // that ended READY), for rolling back a code-only deploy some replicas
  // loaded and one could not. Empty until then; not persisted.
  std::string last_good_revision;
  tether::v1::ServiceSpec last_good_spec;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_SERVICE_STATE_H_
