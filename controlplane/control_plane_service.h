#ifndef TETHER_CONTROLPLANE_CONTROL_PLANE_SERVICE_H_
#define TETHER_CONTROLPLANE_CONTROL_PLANE_SERVICE_H_

#include "tether/v1/control_plane.grpc.pb.h"

namespace tether {
class CodeStore;
}  // namespace tether

namespace tether::controlplane {

class CallRouter;
class ServiceManager;

/// The `ControlPlane` gRPC API: translates between protos and the
/// ServiceManager, CallRouter and CodeStore, which hold the logic.
/// Thread-safe; the pointees must outlive the server.
class ControlPlaneService final
    : public tether::v1::ControlPlane::CallbackService {
 public:
  ControlPlaneService(ServiceManager* manager, CallRouter* router,
                      CodeStore* code_store)
      : manager_(manager), router_(router), code_store_(code_store) {}

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
  ServiceManager* const manager_;
  CallRouter* const router_;
  CodeStore* const code_store_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_CONTROL_PLANE_SERVICE_H_
