#include "controlplane/control_plane_service.h"

#include <deque>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/call_metadata.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "controlplane/activator.h"
#include "controlplane/api_tokens.h"
#include "controlplane/authorization.h"
#include "controlplane/call_stream_reactor.h"
#include "controlplane/code/sync_code_session.h"
#include "controlplane/control_plane_metrics.h"
#include "controlplane/endpoints_publisher.h"
#include "controlplane/logs_relay.h"
#include "controlplane/service_manager.h"
#include "controlplane/ttl_controller.h"
#include "controlplane/uninjected_pods.h"

namespace tether::controlplane {
namespace {

using tether::v1::DeployEvent;
using tether::v1::SyncCodeRequest;
using tether::v1::SyncCodeResponse;

// Calls without a client deadline still end some day.
constexpr absl::Duration kMaxCallTime = absl::Hours(24);

// Upload stream: a lockstep exchange driven by SyncCodeSession: read a
// request, write the answer if there is one, read the next.
class SyncCodeReactor final
    : public grpc::ServerBidiReactor<SyncCodeRequest, SyncCodeResponse> {
 public:
  explicit SyncCodeReactor(CodeStore* store) : session_(store, SyncLimits()) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed: fine after the result, a failure before.
      Finish(committed_ ? grpc::Status::OK
                        : grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                       "stream ended before commit"));
      return;
    }
    absl::StatusOr<std::optional<SyncCodeResponse>> response =
        session_.OnRequest(request_);
    if (!response.ok()) {
      Finish(ToGrpcStatus(response.status()));
      return;
    }
    if (!response->has_value()) {
      StartRead(&request_);
      return;
    }
    response_ = std::move(**response);
    committed_ = response_.has_result();
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  SyncCodeSession session_;
  SyncCodeRequest request_;
  SyncCodeResponse response_;
  bool committed_ = false;
};

// Deploy progress: events from the ServiceManager are queued and written one
// at a time; the final status goes out once the queue is drained.
class DeployReactor final : public grpc::ServerWriteReactor<DeployEvent>,
                            public DeployObserver {
 public:
  DeployReactor(ServiceManager* manager,
                const tether::v1::DeployRequest& request)
      : manager_(manager) {
    absl::StatusOr<uint64_t> id = manager_->StartDeploy(request, this);
    absl::MutexLock lock(&mu_);
    started_ = true;
    if (!id.ok()) {
      Finish(ToGrpcStatus(id.status()));
      finished_ = true;
      return;
    }
    deploy_id_ = *id;
    WriteNextLocked();
  }

  void OnEvent(const DeployEvent& event) override {
    absl::MutexLock lock(&mu_);
    queue_.push_back(event);
    WriteNextLocked();
  }

  void OnDone(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    final_status_ = ToGrpcStatus(status);
    WriteNextLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) queue_.clear();  // Client gone; OnDone follows.
    WriteNextLocked();
  }

  void OnCancel() override {
    manager_->CancelDeploy(deploy_id_);
    // A reactor must finish even when cancelled, or server shutdown waits
    // for it forever.
    absl::MutexLock lock(&mu_);
    queue_.clear();
    final_status_ = grpc::Status::CANCELLED;
    WriteNextLocked();
  }

  void OnDone() override {
    manager_->CancelDeploy(deploy_id_);
    delete this;
  }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Events that arrive while StartDeploy runs wait for the constructor.
    if (!started_ || writing_ || finished_) return;
    if (!queue_.empty()) {
      current_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      StartWrite(&current_);
      return;
    }
    if (final_status_.has_value()) {
      finished_ = true;
      Finish(*final_status_);
    }
  }

  ServiceManager* const manager_;
  uint64_t deploy_id_ = 0;
  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<DeployEvent> queue_ ABSL_GUARDED_BY(mu_);
  DeployEvent current_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> final_status_ ABSL_GUARDED_BY(mu_);
};

// A stream refused before it starts (no valid API token).
template <typename Reactor>
class RefusedStream final : public Reactor {
 public:
  explicit RefusedStream(const absl::Status& status) {
    this->Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

// Streams a service's endpoints: the current ones, then each change.
// Only the newest endpoints matter, so a slow reader skips stale ones
// instead of queueing them.
class WatchEndpointsReactor final
    : public grpc::ServerWriteReactor<tether::v1::Endpoints>,
      public EndpointsWatcher {
 public:
  WatchEndpointsReactor(EndpointsPublisher* publisher,
                        const std::string& service)
      : publisher_(publisher) {
    absl::StatusOr<uint64_t> id = publisher_->Watch(service, this);
    absl::MutexLock lock(&mu_);
    started_ = true;
    if (!id.ok()) {
      final_status_ = ToGrpcStatus(id.status());
    } else {
      watch_id_ = *id;
    }
    WriteNextLocked();
  }

  void OnEndpoints(
      std::shared_ptr<const tether::v1::Endpoints> endpoints) override {
    absl::MutexLock lock(&mu_);
    pending_ = std::move(endpoints);
    WriteNextLocked();
  }

  void OnRemoved() override {
    absl::MutexLock lock(&mu_);
    final_status_ =
        grpc::Status(grpc::StatusCode::NOT_FOUND, "the service was deleted");
    WriteNextLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) pending_.reset();  // Client gone; OnDone follows.
    WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    pending_.reset();
    final_status_ = grpc::Status::CANCELLED;
    WriteNextLocked();
  }

  void OnDone() override {
    // Not under mu_: the publisher calls this watcher holding its own lock.
    if (watch_id_ != 0) publisher_->Unwatch(watch_id_);
    delete this;
  }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Endpoints pushed while Watch runs wait for the constructor.
    if (!started_ || writing_ || finished_) return;
    if (pending_ != nullptr) {
      current_ = std::move(pending_);
      writing_ = true;
      StartWrite(current_.get());
      return;
    }
    if (final_status_.has_value()) {
      finished_ = true;
      Finish(*final_status_);
    }
  }

  EndpointsPublisher* const publisher_;
  // Set once by the constructor, read by OnDone (after every callback).
  uint64_t watch_id_ = 0;
  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<const tether::v1::Endpoints> pending_ ABSL_GUARDED_BY(mu_);
  // What StartWrite is sending.
  std::shared_ptr<const tether::v1::Endpoints> current_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> final_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

namespace {

// The caller's deadline; calls without one still end some day.
absl::Time CallDeadline(const grpc::CallbackServerContext& context) {
  return std::min(absl::FromChrono(context.deadline()),
                  absl::Now() + kMaxCallTime);
}

}  // namespace

bool ControlPlaneService::Refuse(const absl::Status& allowed,
                                 grpc::ServerUnaryReactor* reactor) {
  if (allowed.ok()) return false;
  reactor->Finish(ToGrpcStatus(allowed));
  return true;
}

grpc::ServerBidiReactor<SyncCodeRequest, SyncCodeResponse>*
ControlPlaneService::SyncCode(grpc::CallbackServerContext* context) {
  // Any token: blobs are content-addressed and a revision is only used
  // through a Deploy, which checks the scope.
  if (absl::Status allowed = options_.authorizer->Scope(*context).status();
      !allowed.ok()) {
    return new RefusedStream<
        grpc::ServerBidiReactor<SyncCodeRequest, SyncCodeResponse>>(allowed);
  }
  return new SyncCodeReactor(options_.code_store);
}

grpc::ServerWriteReactor<DeployEvent>* ControlPlaneService::Deploy(
    grpc::CallbackServerContext* context,
    const tether::v1::DeployRequest* request) {
  // Both the namespace asked for and, for an existing service, the one it
  // is in: asking to move another team's service is touching it.
  const std::string& name = request->spec().name();
  const absl::StatusOr<TokenScope> scope = options_.authorizer->Scope(*context);
  absl::Status allowed = scope.status();
  if (allowed.ok()) allowed = options_.authorizer->CheckService(*scope, name);
  if (allowed.ok()) {
    allowed =
        scope->Check(options_.manager->NamespaceFor(request->spec()), name);
  }
  if (!allowed.ok()) {
    return new RefusedStream<grpc::ServerWriteReactor<DeployEvent>>(allowed);
  }
  return new DeployReactor(options_.manager, *request);
}

grpc::ServerUnaryReactor* ControlPlaneService::Call(
    grpc::CallbackServerContext* context,
    const tether::v1::CallRequest* request,
    tether::v1::CallResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refuse(options_.authorizer->Authorize(*context, request->service()),
             reactor)) {
    return reactor;
  }
  const absl::Time deadline = CallDeadline(*context);
  const ControlPlaneMetrics::CallStart start =
      options_.metrics->CallStarted(request->service());
  options_.activator->Call(
      *request, response, deadline,
      [context, reactor, request, start, metrics = options_.metrics](
          const absl::Status& status,
          std::optional<absl::Duration> woke_after) {
        if (woke_after.has_value()) {
          context->AddTrailingMetadata(
              std::string(kWokeAfterMetadata),
              absl::StrCat(absl::ToInt64Milliseconds(*woke_after)));
        }
        // Before the reply, so a client sees its call counted.
        metrics->CallFinished(request->service(), start, status.code());
        reactor->Finish(ToGrpcStatus(status));
      });
  return reactor;
}

grpc::ServerUnaryReactor* ControlPlaneService::GetService(
    grpc::CallbackServerContext* context,
    const tether::v1::GetServiceRequest* request,
    tether::v1::ServiceStatus* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::StatusOr<TokenScope> scope = options_.authorizer->Scope(*context);
  if (Refuse(scope.status(), reactor) ||
      Refuse(options_.authorizer->CheckService(*scope, request->name()),
             reactor)) {
    return reactor;
  }
  absl::StatusOr<tether::v1::ServiceStatus> status =
      options_.manager->GetService(request->name());
  const std::vector<tether::v1::UninjectedPod> uninjected =
      UninjectedFor(*scope);
  if (!status.ok()) {
    reactor->Finish(ToGrpcStatus(
        absl::IsNotFound(status.status())
            ? ExplainUninjected(status.status(), request->name(), uninjected)
            : status.status()));
    return reactor;
  }
  *response = ForCallers(*std::move(status));
  AddUninjectedPods(uninjected, *response);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ControlPlaneService::ListServices(
    grpc::CallbackServerContext* context,
    const tether::v1::ListServicesRequest* /*request*/,
    tether::v1::ListServicesResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::StatusOr<TokenScope> scope = options_.authorizer->Scope(*context);
  if (Refuse(scope.status(), reactor)) return reactor;
  for (tether::v1::ServiceStatus& service : options_.manager->ListServices()) {
    if (!scope->Allows(service.spec().namespace_(), service.name())) continue;
    *response->add_services() = ForCallers(std::move(service));
  }
  AddUninjectedPods(UninjectedFor(*scope), *response);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ControlPlaneService::DeleteService(
    grpc::CallbackServerContext* context,
    const tether::v1::DeleteServiceRequest* request,
    tether::v1::DeleteServiceResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refuse(options_.authorizer->Authorize(*context, request->name()),
             reactor)) {
    return reactor;
  }
  // The manager stops the replicas on its own executor: that waits for
  // processes or pods, which a gRPC callback thread must not.
  options_.manager->DeleteService(request->name(),
                                  [reactor](const absl::Status& status) {
                                    reactor->Finish(ToGrpcStatus(status));
                                  });
  return reactor;
}

grpc::ServerWriteReactor<tether::v1::InvokeEvent>*
ControlPlaneService::CallStream(grpc::CallbackServerContext* context,
                                const tether::v1::CallRequest* request) {
  if (absl::Status allowed =
          options_.authorizer->Authorize(*context, request->service());
      !allowed.ok()) {
    return new RefusedStream<grpc::ServerWriteReactor<tether::v1::InvokeEvent>>(
        allowed);
  }
  return new CallStreamReactor(context, request, options_.router,
                               options_.activator, options_.metrics,
                               CallDeadline(*context));
}

grpc::ServerWriteReactor<tether::v1::Endpoints>*
ControlPlaneService::WatchEndpoints(
    grpc::CallbackServerContext* context,
    const tether::v1::WatchEndpointsRequest* request) {
  // Endpoints carry the agents' token: only for those who may call.
  if (absl::Status allowed =
          options_.authorizer->Authorize(*context, request->service());
      !allowed.ok()) {
    return new RefusedStream<grpc::ServerWriteReactor<tether::v1::Endpoints>>(
        allowed);
  }
  return new WatchEndpointsReactor(options_.endpoints, request->service());
}

grpc::ServerWriteReactor<tether::v1::LogsResponse>* ControlPlaneService::Logs(
    grpc::CallbackServerContext* context,
    const tether::v1::LogsRequest* request) {
  using Refused =
      RefusedStream<grpc::ServerWriteReactor<tether::v1::LogsResponse>>;
  if (absl::Status allowed =
          options_.authorizer->Authorize(*context, request->service());
      !allowed.ok()) {
    return new Refused(allowed);
  }
  LogsRelay::Options logs;
  logs.router = options_.router;
  logs.backend = options_.backend;
  logs.run = options_.run_logs_task;
  logs.endpoints = options_.endpoints;
  absl::StatusOr<LogsRelay*> relay = LogsRelay::Start(*request, logs);
  if (!relay.ok()) return new Refused(relay.status());
  return *relay;
}

grpc::ServerUnaryReactor* ControlPlaneService::ScaleService(
    grpc::CallbackServerContext* context,
    const tether::v1::ScaleServiceRequest* request,
    tether::v1::ServiceStatus* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refuse(options_.authorizer->Authorize(*context, request->name()),
             reactor)) {
    return reactor;
  }
  absl::StatusOr<tether::v1::ServiceStatus> status = options_.manager->Scale(
      request->name(), request->replicas(), "scaled by ScaleService");
  if (!status.ok()) {
    reactor->Finish(ToGrpcStatus(status.status()));
    return reactor;
  }
  *response = ForCallers(*std::move(status));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

std::vector<tether::v1::UninjectedPod> ControlPlaneService::UninjectedFor(
    const TokenScope& scope) const {
  std::vector<tether::v1::UninjectedPod> pods;
  if (options_.uninjected == nullptr) return pods;
  // The pods run in the backend's namespace, the default one.
  for (tether::v1::UninjectedPod& pod : options_.uninjected->List()) {
    if (scope.Allows(options_.manager->default_namespace(), pod.service())) {
      pods.push_back(std::move(pod));
    }
  }
  return pods;
}

tether::v1::ServiceStatus ControlPlaneService::ForCallers(
    tether::v1::ServiceStatus status) const {
  *status.mutable_activity() = options_.ttl->ActivityOf(status.name());
  // Listings end up in terminals and CI logs; the token goes only to those
  // who call the service (WatchEndpoints).
  status.clear_token();
  return status;
}

}  // namespace tether::controlplane
