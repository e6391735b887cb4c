#ifndef TETHER_CONTROLPLANE_CONTROL_PLANE_SERVICE_H_
#define TETHER_CONTROLPLANE_CONTROL_PLANE_SERVICE_H_

#include "absl/status/status.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::controlplane {

class CodeStore;

class ApiTokens;
class CallRouter;
class ControlPlaneMetrics;
class ServiceManager;

/// The `ControlPlane` gRPC API: translates between protos and the
/// ServiceManager, CallRouter and CodeStore, which hold the logic. With
/// `tokens`, every RPC needs a listed bearer token (UNAUTHENTICATED
/// otherwise); without, the API is open (a tetherd on loopback). Authorized
/// `Call`s are counted in `metrics` (outcome, latency, in flight).
/// Thread-safe; the pointees must outlive the server.
class ControlPlaneService final
    : public tether::v1::ControlPlane::CallbackService {
 public:
  ControlPlaneService(ServiceManager* manager, CallRouter* router,
                      CodeStore* code_store, ControlPlaneMetrics* metrics,
                      ApiTokens* tokens = nullptr)
      : manager_(manager),
        router_(router),
        code_store_(code_store),
        metrics_(metrics),
        tokens_(tokens) {}

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

 private:
  // OK when the caller may use the API.
  absl::Status Authorize(const grpc::CallbackServerContext& context) const;
  // Finishes `reactor` with UNAUTHENTICATED and returns true when the caller
  // may not use the API.
  bool RefuseUnauthorized(const grpc::CallbackServerContext& context,
                          grpc::ServerUnaryReactor* reactor) const;

  ServiceManager* const manager_;
  CallRouter* const router_;
  CodeStore* const code_store_;
  ControlPlaneMetrics* const metrics_;
  ApiTokens* const tokens_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_CONTROL_PLANE_SERVICE_H_
