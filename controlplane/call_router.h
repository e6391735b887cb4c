#ifndef TETHER_CONTROLPLANE_CALL_ROUTER_H_
#define TETHER_CONTROLPLANE_CALL_ROUTER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tether/v1/agent.grpc.pb.h"
#include "tether/v1/control_plane.pb.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace tether::controlplane {

/// One ready replica as the router sees it. Thread-safe.
struct AgentEndpoint {
  std::string replica;
  std::string address;
  std::unique_ptr<tether::v1::Agent::StubInterface> stub;
  // Calls sent and not answered yet: the least-outstanding choice.
  std::atomic<int> in_flight{0};
};

/// Routing facts for one service: replaced whole on every change, so calls
/// read a consistent snapshot without holding a lock while they run.
struct Route {
  std::string service;
  // Bearer token the agents accept.
  std::string token;
  std::vector<tether::v1::Codec> allowed_codecs;
  // Ready replicas in replica order.
  std::vector<std::shared_ptr<AgentEndpoint>> ready;
  // Shown when nothing is ready ("deploying", "failed: ...").
  std::string not_ready_reason;
};

/// Sends calls to agents: the data-plane hot path of tetherd. Checks the
/// codec and payload size, picks replicas, and forwards with the async gRPC
/// client so no thread waits for an agent. Thread-safe.
class CallRouter {
 public:
  struct Options {
    /// Larger payloads fail with RESOURCE_EXHAUSTED.
    int64_t max_payload_bytes = 64 << 20;
    /// How agents are dialled (common/tls.h); null: plaintext.
    std::shared_ptr<grpc::ChannelCredentials> agent_credentials;
    /// The name agents' certificates carry, checked instead of the
    /// address's host (SetTlsServerName). Empty: the host.
    std::string agent_tls_server_name;
  };

  explicit CallRouter(Options options);

  /// Installs or replaces the route of `route->service`.
  void SetRoute(std::shared_ptr<const Route> route);
  void RemoveRoute(const std::string& service);

  /// Runs `request` and calls `done` exactly once, from any thread.
  /// `response` must outlive `done`. Errors: NOT_FOUND (no such service),
  /// PERMISSION_DENIED (codec not allowed), RESOURCE_EXHAUSTED (payload too
  /// large), INVALID_ARGUMENT (bad target), UNAVAILABLE (nothing ready), and
  /// whatever the agent returned.
  void Call(const tether::v1::CallRequest& request,
            tether::v1::CallResponse* response, absl::Time deadline,
            std::function<void(absl::Status)> done);

  /// A streamed call's replica, checked as Call checks (codec, size, ready
  /// replicas), with the agent's request and authorization ready.
  struct StreamTarget {
    std::shared_ptr<AgentEndpoint> endpoint;
    // "Bearer <token>".
    std::string authorization;
    tether::v1::InvokeRequest invoke;
  };
  /// The replica `request` streams from (TARGET_ANY: fewest in flight;
  /// TARGET_REPLICA). INVALID_ARGUMENT for TARGET_ALL, and Call's errors.
  absl::StatusOr<StreamTarget> ResolveStream(
      const tether::v1::CallRequest& request) const;

  /// The agents `ControlPlane.Logs` reads: every ready replica of
  /// `service`, with the agents' authorization, and why none may be ready.
  struct LogsTargets {
    std::vector<std::shared_ptr<AgentEndpoint>> ready;
    // "Bearer <token>".
    std::string authorization;
    std::string not_ready_reason;
  };
  /// NOT_FOUND for an unknown service.
  absl::StatusOr<LogsTargets> ResolveLogs(const std::string& service) const;

  /// Makes a stub for an agent at `address`, sized for the payload limit.
  std::unique_ptr<tether::v1::Agent::StubInterface> NewAgentStub(
      const std::string& address) const;

 private:
  // A route plus what every call on it needs, computed once per SetRoute
  // rather than once per call.
  struct RouteEntry {
    std::shared_ptr<const Route> route;
    // "Bearer <token>", sent as the authorization metadata.
    std::string authorization;
  };

  // The route entry of `service`; null when unknown.
  std::shared_ptr<const RouteEntry> Find(const std::string& service) const;

  const Options options_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const RouteEntry>> routes_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_CALL_ROUTER_H_
