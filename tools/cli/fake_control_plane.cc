#include "tools/cli/fake_control_plane.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "grpcpp/server_builder.h"

namespace tether::cli {

using tether::v1::ServiceStatus;

FakeControlPlane::FakeControlPlane() {
  grpc::ServerBuilder builder;
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
}

FakeControlPlane::~FakeControlPlane() { server_->Shutdown(); }

std::unique_ptr<Connection> FakeControlPlane::Connect() {
  auto connection = std::make_unique<Connection>();
  connection->address = "in-process";
  connection->channel = server_->InProcessChannel(grpc::ChannelArguments());
  connection->stub = tether::v1::ControlPlane::NewStub(connection->channel);
  return connection;
}

void FakeControlPlane::AddService(const ServiceStatus& status) {
  absl::MutexLock lock(&mu_);
  services_.push_back(status);
  std::sort(services_.begin(), services_.end(),
            [](const ServiceStatus& a, const ServiceStatus& b) {
              return a.name() < b.name();
            });
}

void FakeControlPlane::SetDeploy(std::vector<tether::v1::DeployEvent> events,
                                 grpc::Status status) {
  absl::MutexLock lock(&mu_);
  deploy_events_ = std::move(events);
  deploy_status_ = std::move(status);
}

void FakeControlPlane::SetCall(tether::v1::CallResponse response,
                               grpc::Status status) {
  absl::MutexLock lock(&mu_);
  call_response_ = std::move(response);
  call_status_ = std::move(status);
}

void FakeControlPlane::SetCallTrailer(std::string key, std::string value) {
  absl::MutexLock lock(&mu_);
  call_trailers_.emplace_back(std::move(key), std::move(value));
}

void FakeControlPlane::SetSyncRevision(const std::string& revision) {
  absl::MutexLock lock(&mu_);
  sync_revision_ = revision;
}

void FakeControlPlane::HoldDeploysFrom(size_t n) {
  absl::MutexLock lock(&mu_);
  hold_from_ = n;
}

void FakeControlPlane::SetLogs(
    std::vector<tether::v1::LogsResponse> responses) {
  absl::MutexLock lock(&mu_);
  logs_ = std::move(responses);
}

bool FakeControlPlane::AwaitLogs(size_t count, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto served = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return logs_served_ >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&served), timeout);
}

std::vector<tether::v1::LogsRequest> FakeControlPlane::logs_requests() {
  absl::MutexLock lock(&mu_);
  return logs_requests_;
}

bool FakeControlPlane::AwaitDeploys(size_t count, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto received = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return deploys_.size() >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&received), timeout);
}

std::vector<tether::v1::CallRequest> FakeControlPlane::calls() {
  absl::MutexLock lock(&mu_);
  return calls_;
}

std::vector<tether::v1::DeployRequest> FakeControlPlane::deploys() {
  absl::MutexLock lock(&mu_);
  return deploys_;
}

std::vector<std::string> FakeControlPlane::deleted() {
  absl::MutexLock lock(&mu_);
  return deleted_;
}

std::vector<tether::v1::ScaleServiceRequest> FakeControlPlane::scales() {
  absl::MutexLock lock(&mu_);
  return scales_;
}

std::vector<std::string> FakeControlPlane::synced_paths() {
  absl::MutexLock lock(&mu_);
  return synced_paths_;
}

grpc::Status FakeControlPlane::SyncCode(
    grpc::ServerContext*,
    grpc::ServerReaderWriter<tether::v1::SyncCodeResponse,
                             tether::v1::SyncCodeRequest>* stream) {
  tether::v1::SyncCodeRequest request;
  if (!stream->Read(&request) || !request.has_manifest()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no manifest");
  }
  // Asks for every blob, so uploads exercise the chunk path.
  tether::v1::SyncCodeResponse missing;
  std::vector<std::string> paths;
  for (const auto& entry : request.manifest().entries()) {
    paths.push_back(entry.path());
    if (entry.kind() == tether::v1::TreeEntry::KIND_FILE) {
      missing.mutable_missing()->add_sha256(entry.sha256());
    }
  }
  missing.mutable_missing();
  stream->Write(missing);
  uint64_t bytes = 0, files = 0;
  while (stream->Read(&request)) {
    if (request.has_chunk()) {
      bytes += request.chunk().data().size();
      if (request.chunk().offset() == 0) ++files;
    } else if (request.has_commit()) {
      break;
    }
  }
  tether::v1::SyncCodeResponse result;
  {
    absl::MutexLock lock(&mu_);
    synced_paths_ = paths;
    result.mutable_result()->set_revision(sync_revision_);
  }
  result.mutable_result()->set_files_received(files);
  result.mutable_result()->set_bytes_received(bytes);
  stream->Write(result);
  return grpc::Status::OK;
}

grpc::Status FakeControlPlane::Deploy(
    grpc::ServerContext* context, const tether::v1::DeployRequest* request,
    grpc::ServerWriter<tether::v1::DeployEvent>* writer) {
  std::vector<tether::v1::DeployEvent> events;
  grpc::Status status;
  {
    absl::MutexLock lock(&mu_);
    deploys_.push_back(*request);
    const size_t number = deploys_.size();
    // Cancellation has no callback in the sync API: look every few ms.
    while (hold_from_ != 0 && number >= hold_from_ && !context->IsCancelled()) {
      poll_.WaitWithTimeout(&mu_, absl::Milliseconds(5));
    }
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    events = deploy_events_;
    status = deploy_status_;
  }
  for (const auto& event : events) writer->Write(event);
  return status;
}

grpc::Status FakeControlPlane::Call(grpc::ServerContext* context,
                                    const tether::v1::CallRequest* request,
                                    tether::v1::CallResponse* response) {
  absl::MutexLock lock(&mu_);
  calls_.push_back(*request);
  for (const auto& [key, value] : call_trailers_) {
    context->AddTrailingMetadata(key, value);
  }
  *response = call_response_;
  return call_status_;
}

void FakeControlPlane::SetCallStream(
    std::vector<tether::v1::InvokeEvent> events, grpc::Status status) {
  absl::MutexLock lock(&mu_);
  stream_events_ = std::move(events);
  stream_status_ = std::move(status);
}

grpc::Status FakeControlPlane::CallStream(
    grpc::ServerContext* context, const tether::v1::CallRequest* request,
    grpc::ServerWriter<tether::v1::InvokeEvent>* writer) {
  absl::MutexLock lock(&mu_);
  calls_.push_back(*request);
  for (const auto& [key, value] : call_trailers_) {
    context->AddTrailingMetadata(key, value);
  }
  for (const tether::v1::InvokeEvent& event : stream_events_) {
    if (!writer->Write(event)) break;
  }
  return stream_status_;
}

namespace {

grpc::Status NotFound(const std::string& name) {
  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                      absl::StrCat("service \"", name, "\" not found"));
}

}  // namespace

grpc::Status FakeControlPlane::GetService(
    grpc::ServerContext*, const tether::v1::GetServiceRequest* request,
    ServiceStatus* response) {
  absl::MutexLock lock(&mu_);
  auto it = FindLocked(request->name());
  if (it == services_.end()) return NotFound(request->name());
  *response = *it;
  return grpc::Status::OK;
}

std::vector<ServiceStatus>::iterator FakeControlPlane::FindLocked(
    const std::string& name) {
  return std::find_if(services_.begin(), services_.end(),
                      [&](const ServiceStatus& s) { return s.name() == name; });
}

grpc::Status FakeControlPlane::ListServices(
    grpc::ServerContext*, const tether::v1::ListServicesRequest*,
    tether::v1::ListServicesResponse* response) {
  absl::MutexLock lock(&mu_);
  for (const ServiceStatus& service : services_) {
    *response->add_services() = service;
  }
  return grpc::Status::OK;
}

grpc::Status FakeControlPlane::DeleteService(
    grpc::ServerContext*, const tether::v1::DeleteServiceRequest* request,
    tether::v1::DeleteServiceResponse*) {
  absl::MutexLock lock(&mu_);
  auto it = FindLocked(request->name());
  if (it == services_.end()) return NotFound(request->name());
  services_.erase(it);
  deleted_.push_back(request->name());
  return grpc::Status::OK;
}

grpc::Status FakeControlPlane::Logs(
    grpc::ServerContext* context, const tether::v1::LogsRequest* request,
    grpc::ServerWriter<tether::v1::LogsResponse>* writer) {
  std::vector<tether::v1::LogsResponse> responses;
  {
    absl::MutexLock lock(&mu_);
    logs_requests_.push_back(*request);
    auto it = FindLocked(request->service());
    if (it == services_.end()) return NotFound(request->service());
    if (!request->replica().empty()) {
      bool known = false;
      for (const auto& replica : it->replicas()) {
        known = known || replica.name() == request->replica();
      }
      if (!known) {
        return grpc::Status(
            grpc::StatusCode::NOT_FOUND,
            absl::StrCat("replica \"", request->replica(), "\" of service \"",
                         request->service(),
                         "\" is not running (or does not exist)"));
      }
    }
    for (const auto& response : logs_) {
      if (response.has_line()) {
        const tether::v1::LogLine& line = response.line();
        if (!request->replica().empty() &&
            line.replica() != request->replica()) {
          continue;
        }
        if (request->has_since() &&
            (line.time().seconds() < request->since().seconds() ||
             (line.time().seconds() == request->since().seconds() &&
              line.time().nanos() < request->since().nanos()))) {
          continue;
        }
      }
      responses.push_back(response);
    }
  }
  for (const auto& response : responses) writer->Write(response);
  absl::MutexLock lock(&mu_);
  ++logs_served_;
  if (!request->follow()) return grpc::Status::OK;
  // Cancellation has no callback in the sync API: look every few ms.
  while (!context->IsCancelled()) {
    poll_.WaitWithTimeout(&mu_, absl::Milliseconds(5));
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
}

grpc::Status FakeControlPlane::ScaleService(
    grpc::ServerContext*, const tether::v1::ScaleServiceRequest* request,
    ServiceStatus* response) {
  absl::MutexLock lock(&mu_);
  scales_.push_back(*request);
  const int32_t replicas = request->replicas();
  // The same order of checks as tetherd's ServiceManager::Scale.
  if (replicas < 0) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("replicas: must be at least 0, not ", replicas));
  }
  auto it = FindLocked(request->name());
  if (it == services_.end()) return NotFound(request->name());
  const tether::v1::Compute& compute = it->spec().compute();
  if (replicas != 0 && compute.has_distributed() &&
      replicas != compute.distributed().workers()) {
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat("service ", it->name(), " is distributed over ",
                     compute.distributed().workers(), " workers: it runs 0 or ",
                     compute.distributed().workers(), " replicas, not ",
                     replicas));
  }
  const bool was_parked = it->has_scale() && it->scale() == 0;
  it->set_scale(replicas);
  if (replicas == 0) {
    it->set_phase(ServiceStatus::PHASE_IDLE);
    // Parked services have no TTL deadline.
    if (it->has_activity()) it->mutable_activity()->clear_idle_action_at();
  } else if (was_parked) {
    it->set_phase(ServiceStatus::PHASE_DEPLOYING);
  }
  *response = *it;
  return grpc::Status::OK;
}

}  // namespace tether::cli
