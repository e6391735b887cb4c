#ifndef TETHER_CONTROLPLANE_AGENT_SESSIONS_H_
#define TETHER_CONTROLPLANE_AGENT_SESSIONS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "controlplane/call_router.h"
#include "controlplane/service_registry.h"
#include "controlplane/service_state.h"
#include "tether/v1/agent.pb.h"

namespace tether::controlplane {

/// The agents attached to replicas: which Attach session speaks for which
/// replica, what their revision reports mean for the replica, and the load
/// commands they are sent (going back to the last good revision included).
/// Not thread-safe: the ServiceManager calls it under its lock.
class AgentSessions {
 public:
  /// `registry` resolves sessions and persists a rollback; it must outlive
  /// this.
  explicit AgentSessions(ServiceRegistry* registry) : registry_(registry) {}

  /// Binds `replica` of service `hello.service()` to the agent that said
  /// `hello` on `connection`, reached through `endpoint` (made by the
  /// caller outside any lock: it opens a channel). Replaces the replica's
  /// previous session; the replica is LOADING until its agent reports.
  /// Returns the new session's id (never 0).
  uint64_t Attach(ReplicaState& replica, const tether::v1::AgentHello& hello,
                  AgentConnection* connection,
                  std::shared_ptr<AgentEndpoint> endpoint);

  struct Bound {
    ServiceState* service;
    const std::string* replica_name;
    ReplicaState* replica;
  };
  /// What `session` speaks for; nullopt once it ended.
  std::optional<Bound> Find(uint64_t session);
  /// Ends `session`: its replica loses its agent (LOST, no revision).
  /// Returns the replica's service; null when nothing changed (the session
  /// had ended, or a redialed agent's session replaced it).
  ServiceState* Detach(uint64_t session);
  /// Forgets the session of `replica`, which is going away.
  void Forget(const ReplicaState& replica);

  /// Tells `replica`'s agent, if one is attached, to load `service`'s
  /// revision and spec at its generation.
  static void SendLoad(const ServiceState& service,
                       const ReplicaState& replica);
  /// Records in `replica` what its agent reported: READY serves the
  /// revision; FAILED keeps the old workers serving when there are any.
  static void ApplyRevisionState(ReplicaState& replica,
                                 const tether::v1::RevisionState& state);
  /// After replica `failed` could not load the service's revision: when
  /// the deploy changed only the code and other replicas already switched,
  /// records the last good revision at a new generation and sends every
  /// replica back to it, so they serve one revision. Returns whether it did.
  bool RollBack(ServiceState& service, const std::string& failed);

 private:
  ServiceRegistry* const registry_;
  // Session id → (service, replica).
  std::map<uint64_t, std::pair<std::string, std::string>> sessions_;
  uint64_t next_id_ = 1;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_AGENT_SESSIONS_H_
