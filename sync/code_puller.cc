#include "sync/code_puller.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "grpcpp/client_context.h"
#include "sync/manifest_diff.h"
#include "sync/revision_builder.h"
#include "sync/tree.h"

namespace tether::sync {
namespace {

using ::tether::v1::PullCodeRequest;
using ::tether::v1::PullCodeResponse;
using ::tether::v1::Tree;

// Distinct file digests of `tree`.
size_t DistinctBlobs(const Tree& tree) {
  absl::flat_hash_set<absl::string_view> digests;
  for (const auto& entry : tree.entries()) {
    if (entry.kind() == tether::v1::TreeEntry::KIND_FILE) {
      digests.insert(entry.sha256());
    }
  }
  return digests.size();
}

// `base_tree` is the tree of `base_revision` (both empty: none).
absl::StatusOr<std::string> PullOnce(
    tether::v1::AgentGateway::StubInterface& stub, const std::string& workdir,
    const std::string& revision, std::vector<std::string> have,
    const std::string& base_revision, const Tree& base_tree,
    const std::function<void(grpc::ClientContext&)>& decorate) {
  grpc::ClientContext context;
  if (decorate) decorate(context);
  PullCodeRequest request;
  request.set_revision(revision);
  request.set_base_revision(base_revision);
  // When every file of the base is intact, saying so replaces the list.
  if (!base_revision.empty() && have.size() == DistinctBlobs(base_tree)) {
    request.set_have_base(true);
  } else {
    for (std::string& sha256 : have) request.add_have(std::move(sha256));
  }
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
    RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
    return absl::InternalError(
        absl::StrCat("PullCode stream for ", revision, " ended ", what));
  };

  PullCodeResponse response;
  if (!reader->Read(&response)) return ended("before the tree");
  Tree tree;
  if (response.has_tree()) {
    tree = std::move(*response.mutable_tree());
  } else if (response.has_tree_diff() && !base_revision.empty() &&
             response.tree_diff().base_revision() == base_revision) {
    absl::StatusOr<Tree> applied =
        ApplyManifestDiff(base_tree, response.tree_diff(), TreeLimits());
    if (!applied.ok()) return abandon(applied.status());
    tree = *std::move(applied);
  } else {
    return abandon(absl::InternalError("PullCode did not start with the tree"));
  }
  RevisionBuilder::Options options;
  options.workdir = workdir;
  options.revision = revision;
  absl::StatusOr<std::unique_ptr<RevisionBuilder>> builder =
      RevisionBuilder::Create(std::move(options), std::move(tree));
  if (!builder.ok()) return abandon(builder.status());
  while (reader->Read(&response)) {
    absl::Status status;
    if (response.has_chunk()) {
      status = (*builder)->AddChunk(response.chunk());
    } else if (response.has_delta()) {
      status = (*builder)->AddDelta(response.delta());
    } else {
      status = absl::InternalError("PullCode sent a second tree");
    }
    if (!status.ok()) return abandon(status);
  }
  RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
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
    RETURN_IF_ERROR(SwitchCurrent(workdir, revision));
    return RevisionDir(workdir, revision);
  }
  // The current revision is the base for a tree diff and deltas, if its
  // tree is readable.
  std::string base_revision;
  Tree base_tree;
  if (current.ok()) {
    absl::StatusOr<Tree> tree = RevisionTree(workdir, *current);
    if (tree.ok()) {
      base_revision = *current;
      base_tree = *std::move(tree);
    }
  }
  std::vector<std::string> have = HaveDigests(workdir);
  const bool offered = !have.empty() || !base_revision.empty();
  absl::StatusOr<std::string> dir =
      PullOnce(stub, workdir, revision, std::move(have), base_revision,
               base_tree, decorate);
  if (offered &&
      (absl::IsAborted(dir.status()) || absl::IsDataLoss(dir.status()))) {
    // A file we offered to reuse or patch changed under us (or a delta was
    // bad): take the whole tree and every blob instead.
    TETHER_LOG(WARNING) << "pulling " << revision
                        << " again without reuse: " << dir.status();
    dir = PullOnce(stub, workdir, revision, {}, "", Tree(), decorate);
  }
  return dir;
}

}  // namespace tether::sync
