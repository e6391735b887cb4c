#ifndef TETHER_CLIENTS_CPP_DIRECT_CALLER_H_
#define TETHER_CLIENTS_CPP_DIRECT_CALLER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "tether/v1/agent.grpc.pb.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace tether::client {

/// How a call went, besides its status.
struct CallInfo {
  /// The call went straight to an agent (not through tetherd).
  bool direct = false;
  /// Set when tetherd woke the service for it: how long it waited.
  std::optional<absl::Duration> woke_after;
};

/// How long a `ControlPlane.Call` waited for tetherd to wake its service
/// (the trailing metadata of `context`); nullopt when it woke nothing.
std::optional<absl::Duration> WokeAfter(const grpc::ClientContext& context);

/// Calls one service's replicas directly, keeping tetherd off the hot path.
/// It watches the service's endpoints on tetherd (WatchEndpoints), keeps one
/// channel per agent, and sends each call to the ready replica with the
/// fewest calls outstanding (ties go to the one used last, which keeps a
/// lone caller's agent warm). Calls go through
/// tetherd's `Call` instead when no replica is ready (tetherd wakes a
/// service at zero), when the endpoints are not known yet, when an agent
/// cannot be reached (UNAVAILABLE: once, then tetherd answers), and for
/// TARGET_ALL. If tetherd goes away, calls to the replicas it last
/// published keep working while the watch redials with backoff.
///
/// Thread-safe; one thread of its own follows the endpoints, without
/// waiting in gRPC's poller once they are known (docs/DESIGN.md, "Direct
/// calls", has why).
class DirectCaller {
 public:
  struct Options {
    /// tetherd. Required.
    std::shared_ptr<grpc::ChannelInterface> tetherd;
    /// Bearer token for tetherd's API; empty: none.
    std::string api_token;
    /// The service every call goes to. Required.
    std::string service;
    /// Create waits this long for the first endpoints; calls made before
    /// they arrive go through tetherd.
    absl::Duration first_endpoints_wait = absl::Seconds(2);
    /// Redials of a broken watch.
    Backoff::Options rewatch_backoff = {absl::Milliseconds(100),
                                        absl::Seconds(5)};
    /// Largest message to and from agents.
    int max_message_bytes = 256 << 20;
    /// The CA agents' certificates chain to, for services whose endpoints
    /// say the agents serve TLS (Endpoints.tls_server_name). Without it,
    /// calls to such services go through tetherd.
    std::string agent_ca_file;
    Clock* clock = Clock::Real();
  };

  /// Starts following the endpoints. INVALID_ARGUMENT without tetherd or
  /// service.
  static absl::StatusOr<std::unique_ptr<DirectCaller>> Create(
      const Options& options);
  /// Ends the watch and joins its thread.
  ~DirectCaller();

  DirectCaller(const DirectCaller&) = delete;
  DirectCaller& operator=(const DirectCaller&) = delete;

  /// Runs `request` by `deadline` (TARGET_ANY or TARGET_REPLICA direct;
  /// TARGET_ALL through tetherd), the errors as tetherd's `Call` gives them.
  absl::Status Call(const tether::v1::CallRequest& request,
                    tether::v1::CallResponse* response, absl::Time deadline,
                    CallInfo* info = nullptr);

  /// Called with each event of a streamed call, in order, on the calling
  /// thread; returning false cancels the call.
  using OnEvent = std::function<bool(const tether::v1::InvokeEvent&)>;

  /// Runs `request` as a stream: `Agent.InvokeStream` on one replica
  /// (picked as Call picks), or `ControlPlane.CallStream` through tetherd
  /// when no replica is ready, the agent cannot be reached before any event
  /// arrived, or the call names no single replica (TARGET_ALL: rejected
  /// there). Returns the stream's status (CANCELLED when `on_event` asked).
  absl::Status Stream(const tether::v1::CallRequest& request,
                      absl::Time deadline, const OnEvent& on_event,
                      CallInfo* info = nullptr);

  /// The endpoints last received; nullopt before the first.
  std::optional<tether::v1::Endpoints> endpoints() const;

 private:
  // One ready replica and its connection.
  struct Replica {
    std::string name;
    std::string address;
    std::unique_ptr<tether::v1::Agent::Stub> stub;
    std::atomic<int> outstanding{0};
  };
  // What calls read: replaced whole on every change.
  struct Snapshot {
    tether::v1::Endpoints endpoints;
    std::vector<std::shared_ptr<Replica>> replicas;
    // "Bearer <token>" for the agents.
    std::string authorization;
  };

  // How often the watch looks for endpoints that came in while no call
  // was in flight to read them.
  static constexpr absl::Duration kWatchPoll = absl::Milliseconds(10);

  DirectCaller(const Options& options,
               std::shared_ptr<grpc::ChannelCredentials> agent_credentials);
  // A connection to the agent at `address`; TLS under `tls_server_name`
  // unless empty. Null when TLS is asked for and there is no CA.
  std::unique_ptr<tether::v1::Agent::Stub> AgentStub(
      const std::string& address, const std::string& tls_server_name) const;
  void WatchLoop();
  // Reads one WatchEndpoints stream into the snapshot until it ends (or
  // this caller stops); returns its status.
  grpc::Status FollowEndpoints(
      const tether::v1::WatchEndpointsRequest& request);
  // Builds the snapshot for `endpoints`, reusing the connections of
  // replicas it already had.
  void Publish(tether::v1::Endpoints endpoints);
  // The replica `request` goes to directly, with the snapshot it is from;
  // a null replica when the call goes through tetherd. INVALID_ARGUMENT
  // for another service than this caller's.
  absl::Status Route(const tether::v1::CallRequest& request,
                     std::shared_ptr<const Snapshot>* snapshot,
                     std::shared_ptr<Replica>* replica);
  std::shared_ptr<Replica> Pick(const Snapshot& snapshot,
                                const tether::v1::CallRequest& request);
  absl::Status CallAgent(const Snapshot& snapshot, Replica& replica,
                         const tether::v1::CallRequest& request,
                         tether::v1::CallResponse* response,
                         absl::Time deadline);
  // Reads `reader` to its end through `on_event`; `received` says whether
  // any event came.
  template <typename Reader>
  static absl::Status Drain(Reader& reader, grpc::ClientContext& context,
                            const OnEvent& on_event, bool* received);
  absl::Status CallTetherd(const tether::v1::CallRequest& request,
                           tether::v1::CallResponse* response,
                           absl::Time deadline, CallInfo* info);
  void DecorateForTetherd(grpc::ClientContext& context) const;

  const Options options_;
  // TLS to agents, from agent_ca_file; null without one.
  const std::shared_ptr<grpc::ChannelCredentials> agent_credentials_;
  const std::unique_ptr<tether::v1::ControlPlane::Stub> tetherd_;
  // Index of the replica picked last (ties go to it).
  std::atomic<size_t> last_pick_{0};
  mutable absl::Mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The first watch ended without endpoints (an older tetherd, tetherd
  // down): Create stops waiting for them.
  bool first_watch_failed_ ABSL_GUARDED_BY(mu_) = false;
  // The watch stream in flight, for the destructor to cancel.
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread watcher_;  // Last: starts once the members above exist.
};

}  // namespace tether::client

#endif  // TETHER_CLIENTS_CPP_DIRECT_CALLER_H_
