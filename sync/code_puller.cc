#include "sync/code_puller.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "grpcpp/client_context.h"
#include "sync/revision_builder.h"
#include "sync/tree.h"

namespace tether {
namespace {

using ::tether::v1::PullCodeRequest;
using ::tether::v1::PullCodeResponse;

absl::StatusOr<std::string> PullOnce(
    tether::v1::AgentGateway::StubInterface& stub, const std::string& workdir,
    const std::string& revision, std::vector<std::string> have,
    const std::function<void(grpc::ClientContext&)>& decorate) {
  grpc::ClientContext context;
  if (decorate) decorate(context);
  PullCodeRequest request;
  request.set_revision(revision);
  for (std::string& sha256 : have) request.add_have(std::move(sha256));
  std::unique_ptr<grpc::ClientReaderInterface<PullCodeResponse>> reader =
      stub.PullCode(&context, request);

  // Our own errors cancel the call so the server stops sending.
  auto abandon = [&](absl::Status status) {
    context.TryCancel();
    reader->Finish().ok();
    return status;
  };
  // The server's status explains a stream that ended early.
  auto ended = [&](absl::string_view what) -> absl::Status {
    absl::Status status = FromGrpcStatus(reader->Finish());
    if (!status.ok()) return status;
    return absl::InternalError(
        absl::StrCat("PullCode stream for ", revision, " ended ", what));
  };

  PullCodeResponse response;
  if (!reader->Read(&response)) return ended("before the tree");
  if (!response.has_tree()) {
    return abandon(absl::InternalError("PullCode did not start with the tree"));
  }
  RevisionBuilder::Options options;
  options.workdir = workdir;
  options.revision = revision;
  absl::StatusOr<std::unique_ptr<RevisionBuilder>> builder =
      RevisionBuilder::Create(std::move(options),
                              std::move(*response.mutable_tree()));
  if (!builder.ok()) return abandon(builder.status());
  while (reader->Read(&response)) {
    if (!response.has_chunk()) {
      return abandon(absl::InternalError("PullCode sent a second tree"));
    }
    absl::Status status = (*builder)->AddChunk(response.chunk());
    if (!status.ok()) return abandon(status);
  }
  absl::Status status = FromGrpcStatus(reader->Finish());
  if (!status.ok()) return status;
  return (*builder)->Finish();
}

}  // namespace

absl::StatusOr<std::string> PullRevision(
    tether::v1::AgentGateway::StubInterface& stub, const std::string& workdir,
    const std::string& revision,
    const std::function<void(grpc::ClientContext&)>& decorate) {
  if (!IsRevisionId(revision)) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed revision id \"", revision, "\""));
  }
  absl::StatusOr<std::string> current = CurrentRevision(workdir);
  if (current.ok() && *current == revision) {
    return RevisionDir(workdir, revision);
  }
  // Built before (e.g. a rollback): switching is enough.
  if (RevisionExists(workdir, revision)) {
    absl::Status status = SwitchCurrent(workdir, revision);
    if (!status.ok()) return status;
    return RevisionDir(workdir, revision);
  }
  absl::StatusOr<std::string> dir =
      PullOnce(stub, workdir, revision, HaveDigests(workdir), decorate);
  if (absl::IsAborted(dir.status())) {
    // A file we offered to reuse changed under us: take every blob instead.
    dir = PullOnce(stub, workdir, revision, {}, decorate);
  }
  return dir;
}

}  // namespace tether
