#ifndef TETHER_TOOLS_CLI_FAKE_CONTROL_PLANE_H_
#define TETHER_TOOLS_CLI_FAKE_CONTROL_PLANE_H_

// A ControlPlane for CLI tests: answers from canned data, records requests,
// and serves in-process (no sockets).

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "tether/v1/control_plane.grpc.pb.h"
#include "tools/cli/client.h"

namespace tether::cli {

/// Thread-safe: RPCs run on server threads while the test reads and writes
/// the canned data between calls.
class FakeControlPlane final : public tether::v1::ControlPlane::Service {
 public:
  FakeControlPlane();
  ~FakeControlPlane() override;

  /// A connection to this fake through an in-process channel.
  std::unique_ptr<Connection> Connect();

  // Canned answers.
  void AddService(const tether::v1::ServiceStatus& status);
  void SetDeploy(std::vector<tether::v1::DeployEvent> events,
                 grpc::Status status);
  void SetCall(tether::v1::CallResponse response, grpc::Status status);
  /// Trailing metadata sent with every later Call answer (e.g.
  /// tether-woke-after-ms).
  void SetCallTrailer(std::string key, std::string value);
  /// Events every later CallStream sends, then its status.
  void SetCallStream(std::vector<tether::v1::InvokeEvent> events,
                     grpc::Status status);
  void SetSyncRevision(const std::string& revision);
  /// Deploy number `n` (1-based) and later ones record their request, then
  /// wait until the client cancels (CANCELLED), so tests can cancel
  /// mid-way. 0 holds none.
  void HoldDeploysFrom(size_t n);
  /// What Logs serves: lines (kept when their replica and time pass the
  /// request's filters, as tetherd's agents do) and drop counts, in order.
  /// With `follow` a Logs then waits until the client cancels.
  void SetLogs(std::vector<tether::v1::LogsResponse> responses);
  /// Waits (at most `timeout`) until `count` Logs have sent their lines.
  bool AwaitLogs(size_t count, absl::Duration timeout);
  /// Waits (at most `timeout`) until `count` deploys have been received.
  bool AwaitDeploys(size_t count, absl::Duration timeout);

  // Recorded requests.
  std::vector<tether::v1::CallRequest> calls();
  std::vector<tether::v1::DeployRequest> deploys();
  std::vector<std::string> deleted();
  std::vector<tether::v1::ScaleServiceRequest> scales();
  std::vector<tether::v1::LogsRequest> logs_requests();
  /// Paths of the last manifest SyncCode received.
  std::vector<std::string> synced_paths();

  grpc::Status SyncCode(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<tether::v1::SyncCodeResponse,
                               tether::v1::SyncCodeRequest>* stream) override;
  grpc::Status Deploy(
      grpc::ServerContext* context, const tether::v1::DeployRequest* request,
      grpc::ServerWriter<tether::v1::DeployEvent>* writer) override;
  grpc::Status Call(grpc::ServerContext* context,
                    const tether::v1::CallRequest* request,
                    tether::v1::CallResponse* response) override;
  /// Recorded in calls() like Call.
  grpc::Status CallStream(
      grpc::ServerContext* context, const tether::v1::CallRequest* request,
      grpc::ServerWriter<tether::v1::InvokeEvent>* writer) override;
  grpc::Status GetService(grpc::ServerContext* context,
                          const tether::v1::GetServiceRequest* request,
                          tether::v1::ServiceStatus* response) override;
  grpc::Status ListServices(
      grpc::ServerContext* context,
      const tether::v1::ListServicesRequest* request,
      tether::v1::ListServicesResponse* response) override;
  grpc::Status DeleteService(
      grpc::ServerContext* context,
      const tether::v1::DeleteServiceRequest* request,
      tether::v1::DeleteServiceResponse* response) override;
  /// As tetherd answers: NOT_FOUND, INVALID_ARGUMENT for a negative count,
  /// FAILED_PRECONDITION for a distributed service asked for neither 0 nor
  /// all of its workers; else records `scale`, parks at 0 (PHASE_IDLE) and
  /// wakes a parked service (PHASE_DEPLOYING).
  grpc::Status Logs(
      grpc::ServerContext* context, const tether::v1::LogsRequest* request,
      grpc::ServerWriter<tether::v1::LogsResponse>* writer) override;
  grpc::Status ScaleService(grpc::ServerContext* context,
                            const tether::v1::ScaleServiceRequest* request,
                            tether::v1::ServiceStatus* response) override;

 private:
  std::vector<tether::v1::ServiceStatus>::iterator FindLocked(
      const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<grpc::Server> server_;
  absl::Mutex mu_;
  // Sorted by name, as tetherd lists them.
  std::vector<tether::v1::ServiceStatus> services_ ABSL_GUARDED_BY(mu_);
  std::vector<tether::v1::DeployEvent> deploy_events_ ABSL_GUARDED_BY(mu_);
  grpc::Status deploy_status_ ABSL_GUARDED_BY(mu_);
  tether::v1::CallResponse call_response_ ABSL_GUARDED_BY(mu_);
  std::vector<tether::v1::InvokeEvent> stream_events_ ABSL_GUARDED_BY(mu_);
  grpc::Status stream_status_ ABSL_GUARDED_BY(mu_);
  grpc::Status call_status_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::string>> call_trailers_
      ABSL_GUARDED_BY(mu_);
  std::string sync_revision_ ABSL_GUARDED_BY(mu_);
  size_t hold_from_ ABSL_GUARDED_BY(mu_) = 0;
  // Never signalled: held deploys wait on it to poll for cancellation.
  absl::CondVar poll_;
  std::vector<tether::v1::CallRequest> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<tether::v1::DeployRequest> deploys_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> deleted_ ABSL_GUARDED_BY(mu_);
  std::vector<tether::v1::ScaleServiceRequest> scales_ ABSL_GUARDED_BY(mu_);
  std::vector<tether::v1::LogsResponse> logs_ ABSL_GUARDED_BY(mu_);
  std::vector<tether::v1::LogsRequest> logs_requests_ ABSL_GUARDED_BY(mu_);
  // Logs that sent their lines.
  size_t logs_served_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> synced_paths_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_FAKE_CONTROL_PLANE_H_
