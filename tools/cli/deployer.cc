#include "tools/cli/deployer.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/revision_id.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "grpcpp/client_context.h"
#include "servicespec/validate.h"
#include "tools/cli/format.h"

namespace tether::cli {
namespace {

using tether::v1::DeployEvent;

// Width of "<name>-<last index>", so replica names line up in progress lines.
size_t ReplicaWidth(const tether::v1::ServiceSpec& spec) {
  const int replicas = servicespec::InitialReplicas(spec.compute());
  return spec.name().size() + 1 + absl::StrCat(replicas - 1).size();
}

}  // namespace

std::string FormatSynced(const std::string& code_dir,
                         const sync::UploadResult& upload,
                         absl::Duration took) {
  return absl::StrCat("synced ", code_dir, ": revision ",
                      ShortRevision(upload.result.revision()), ", ",
                      upload.files, upload.files == 1 ? " file" : " files",
                      ", sent ", upload.blobs_sent, " new (",
                      FormatBytes(upload.result.bytes_received()), ") in ",
                      FormatSeconds(took));
}

Deployer::Deployer(const Connection& conn, std::function<absl::Time()> now,
                   sync::UploadOptions upload)
    : conn_(conn), now_(std::move(now)), upload_(std::move(upload)) {}

absl::StatusOr<sync::UploadResult> Deployer::Upload(
    const std::string& code_dir) {
  sync::UploadOptions options = upload_;
  options.decorate = [this](grpc::ClientContext& context) {
    conn_.Decorate(context);
  };
  // The index cache keeps one base per tetherd.
  options.endpoint = conn_.address;
  absl::StatusOr<sync::UploadResult> upload =
      sync::UploadTree(*conn_.stub, code_dir, options);
  if (!upload.ok()) {
    return conn_.Explain(
        WithContext(absl::StrCat("uploading ", code_dir), upload.status()));
  }
  return upload;
}

absl::Status Deployer::Deploy(
    const tether::v1::ServiceSpec& spec, const std::string& revision,
    const std::function<void(const DeployEvent&)>& on_event,
    absl::Duration timeout) {
  tether::v1::DeployRequest request;
  *request.mutable_spec() = spec;
  request.set_revision(revision);
  grpc::ClientContext context;
  conn_.Decorate(context);
  if (timeout != absl::InfiniteDuration()) {
    // gRPC deadlines are wall-clock time; now_ only times the narration.
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("deploy cancelled");
    active_ = &context;
  }
  std::unique_ptr<grpc::ClientReaderInterface<DeployEvent>> reader =
      conn_.stub->Deploy(&context, request);
  DeployEvent event;
  while (reader->Read(&event)) {
    if (on_event) on_event(event);
  }
  absl::Status status = conn_.Explain(FromGrpcStatus(reader->Finish()));
  if (absl::IsDeadlineExceeded(status)) {
    status = absl::DeadlineExceededError(
        absl::StrCat("service ", spec.name(), " is not ready after ",
                     absl::FormatDuration(timeout),
                     "; tetherd goes on deploying it: see 'tether status ",
                     spec.name(), "'"));
  }
  absl::MutexLock lock(&mu_);
  active_ = nullptr;
  return status;
}

absl::StatusOr<std::string> Deployer::UploadAndDeploy(
    const tether::v1::ServiceSpec& spec, const std::string& code_dir,
    absl::Time start, const DeployOutput& output, absl::Duration timeout) {
  const absl::Time upload_start = now_();
  ASSIGN_OR_RETURN(const sync::UploadResult upload, Upload(code_dir));
  const std::string& revision = upload.result.revision();
  *output.lines << FormatSynced(code_dir, upload, now_() - upload_start)
                << std::endl;

  const size_t width = ReplicaWidth(spec);
  absl::Status print_status;
  const auto print = [&](const DeployEvent& event) {
    if (!output.json_events) {
      *output.events << FormatDeployEvent(event, now_() - start, width)
                     << std::endl;
      return;
    }
    absl::StatusOr<std::string> line = ToJson(event, /*pretty=*/false);
    if (line.ok()) {
      *output.events << *line << std::endl;
    } else if (print_status.ok()) {
      print_status = line.status();
    }
  };
  RETURN_IF_ERROR(Deploy(spec, revision, print, timeout));
  if (!print_status.ok()) return print_status;
  const int replicas = servicespec::InitialReplicas(spec.compute());
  *output.lines << "service " << spec.name() << " ready at revision "
                << ShortRevision(revision) << " (" << replicas
                << (replicas == 1 ? " replica" : " replicas") << ") in "
                << FormatSeconds(now_() - start) << std::endl;
  return revision;
}

void Deployer::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (active_ != nullptr) active_->TryCancel();
}

}  // namespace tether::cli
