#ifndef TETHER_CONTROLPLANE_CONTROL_PLANE_SERVICE_H_
#define TETHER_CONTROLPLANE_CONTROL_PLANE_SERVICE_H_

#include <functional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controlplane/api_authorizer.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::controlplane {

class CodeStore;

class Activator;
class Backend;
class CallRouter;
class ControlPlaneMetrics;
class EndpointsPublisher;
class ServiceManager;
class TtlController;
class UninjectedPods;

/// The `ControlPlane` gRPC API: translates between protos and the
/// ServiceManager, Activator (proxied calls), TtlController (activity),
/// LogsRelay and CodeStore, which hold the logic. `authorizer` judges the
/// caller before anything changes: an RPC that names a service is refused
/// when the service (or the spec deployed) is outside the token's scope;
/// ListServices shows only what is inside it; SyncCode takes any token the
/// authorizer accepts, since it only adds content-addressed blobs.
/// Authorized `Call`s are counted in `metrics`
/// (outcome, latency, in flight); a call that woke its service says so in
/// the trailing metadata kWokeAfterMetadata (common/call_metadata.h).
/// Thread-safe; the pointees must outlive the server.
class ControlPlaneService final
    : public tether::v1::ControlPlane::CallbackService {
 public:
  /// Not owned; all required but `uninjected`.
  struct Options {
    ServiceManager* manager = nullptr;
    Activator* activator = nullptr;
    /// Where streamed calls go (through the activator), and which agents
    /// `Logs` reads.
    CallRouter* router = nullptr;
    /// `Logs`: the replicas without a ready agent, and what they printed.
    const Backend* backend = nullptr;
    /// `Logs`: runs backend reads and new replicas' streams on a thread of
    /// tetherd's (LogsRelay::Options::run).
    std::function<void(std::function<void()>)> run_logs_task;
    const TtlController* ttl = nullptr;
    EndpointsPublisher* endpoints = nullptr;
    CodeStore* code_store = nullptr;
    ControlPlaneMetrics* metrics = nullptr;
    const ApiAuthorizer* authorizer = nullptr;
    /// `GetService`/`ListServices`: opted-in pods without the agent. Null:
    /// none (the local backend).
    const UninjectedPods* uninjected = nullptr;
  };

  explicit ControlPlaneService(Options options)
      : options_(std::move(options)) {}

  grpc::ServerBidiReactor<tether::v1::SyncCodeRequest,
                          tether::v1::SyncCodeResponse>*
  SyncCode(grpc::CallbackServerContext* context) override;

  grpc::ServerWriteReactor<tether::v1::DeployEvent>* Deploy(
      grpc::CallbackServerContext* context,
      const tether::v1::DeployRequest* request) override;

  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* context,
                                 const tether::v1::CallRequest* request,
                                 tether::v1::CallResponse* response) override;

  grpc::ServerUnaryReactor* GetService(
      grpc::CallbackServerContext* context,
      const tether::v1::GetServiceRequest* request,
      tether::v1::ServiceStatus* response) override;

  grpc::ServerUnaryReactor* ListServices(
      grpc::CallbackServerContext* context,
      const tether::v1::ListServicesRequest* request,
      tether::v1::ListServicesResponse* response) override;

  grpc::ServerUnaryReactor* DeleteService(
      grpc::CallbackServerContext* context,
      const tether::v1::DeleteServiceRequest* request,
      tether::v1::DeleteServiceResponse* response) override;

  grpc::ServerWriteReactor<tether::v1::InvokeEvent>* CallStream(
      grpc::CallbackServerContext* context,
      const tether::v1::CallRequest* request) override;

  grpc::ServerWriteReactor<tether::v1::Endpoints>* WatchEndpoints(
      grpc::CallbackServerContext* context,
      const tether::v1::WatchEndpointsRequest* request) override;

  grpc::ServerWriteReactor<tether::v1::LogsResponse>* Logs(
      grpc::CallbackServerContext* context,
      const tether::v1::LogsRequest* request) override;

  grpc::ServerUnaryReactor* ScaleService(
      grpc::CallbackServerContext* context,
      const tether::v1::ScaleServiceRequest* request,
      tether::v1::ServiceStatus* response) override;

 private:
  // Finishes `reactor` with `allowed` and returns true when it is an error.
  static bool Refuse(const absl::Status& allowed,
                     grpc::ServerUnaryReactor* reactor);

  // The pods without the agent whose service `scope` may see.
  std::vector<tether::v1::UninjectedPod> UninjectedFor(
      const TokenScope& scope) const;

  // A service's status as the API answers it: with its activity, without
  // its agent token.
  tether::v1::ServiceStatus ForCallers(tether::v1::ServiceStatus status) const;

  const Options options_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_CONTROL_PLANE_SERVICE_H_
