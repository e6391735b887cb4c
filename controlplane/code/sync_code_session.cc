#include "controlplane/code/sync_code_session.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace tether {

using ::tether::v1::BlobChunk;
using ::tether::v1::SyncCodeRequest;
using ::tether::v1::SyncCodeResponse;
using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

SyncCodeSession::SyncCodeSession(CodeStore* store, SyncLimits limits)
    : store_(store), limits_(limits) {}

// Defined here so the writer's destructor (which discards) runs in one place.
SyncCodeSession::~SyncCodeSession() = default;

absl::StatusOr<std::optional<SyncCodeResponse>> SyncCodeSession::OnRequest(
    const SyncCodeRequest& request) {
  absl::StatusOr<std::optional<SyncCodeResponse>> result;
  switch (phase_) {
    case Phase::kFailed:
      return absl::FailedPreconditionError("sync session already failed");
    case Phase::kDone:
      return absl::FailedPreconditionError("sync session already committed");
    case Phase::kManifest:
      if (request.step_case() == SyncCodeRequest::kManifest) {
        result = OnManifest(request.manifest());
      } else if (request.step_case() == SyncCodeRequest::STEP_NOT_SET) {
        result = absl::InvalidArgumentError("SyncCodeRequest without a step");
      } else {
        result = absl::FailedPreconditionError(
            "the first SyncCode message must be the manifest");
      }
      break;
    case Phase::kBlobs:
      switch (request.step_case()) {
        case SyncCodeRequest::kChunk: {
          absl::Status status = OnChunk(request.chunk());
          if (status.ok()) {
            result = std::nullopt;
          } else {
            result = status;
          }
          break;
        }
        case SyncCodeRequest::kCommit:
          result = OnCommit();
          break;
        case SyncCodeRequest::kManifest:
          result = absl::FailedPreconditionError("manifest sent twice");
          break;
        default:
          result = absl::InvalidArgumentError("SyncCodeRequest without a step");
      }
      break;
  }
  if (!result.ok()) {
    phase_ = Phase::kFailed;
    writer_.reset();
  }
  return result;
}

absl::StatusOr<std::optional<SyncCodeResponse>> SyncCodeSession::OnManifest(
    const Tree& manifest) {
  absl::Status status = ValidateTree(manifest, limits_.tree);
  if (!status.ok()) return status;
  manifest_ = manifest;
  SyncCodeResponse response;
  auto* missing = response.mutable_missing();
  for (const TreeEntry& entry : manifest_.entries()) {
    if (entry.kind() != TreeEntry::KIND_FILE) continue;
    if (pending_.contains(entry.sha256())) continue;
    absl::StatusOr<bool> has = store_->HasBlob(entry.sha256());
    if (!has.ok()) return has.status();
    if (*has) continue;
    pending_.emplace(entry.sha256(), PendingBlob{entry.size(), entry.path()});
    missing_order_.push_back(entry.sha256());
    missing->add_sha256(entry.sha256());
  }
  phase_ = Phase::kBlobs;
  return response;
}

absl::Status SyncCodeSession::OnChunk(const BlobChunk& chunk) {
  if (chunk.data().size() > limits_.max_chunk_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk of ", chunk.data().size(), " bytes exceeds ",
                     limits_.max_chunk_bytes));
  }
  auto it = pending_.find(chunk.sha256());
  if (it == pending_.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk for blob ", ToHex(chunk.sha256()), " that was not requested"));
  }
  PendingBlob& blob = it->second;
  if (blob.received) {
    return absl::InvalidArgumentError(
        absl::StrCat("blob of \"", blob.path, "\" sent twice"));
  }
  if (writer_ == nullptr) {
    if (chunk.offset() != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("blob of \"", blob.path, "\" starts at offset ",
                       chunk.offset(), ", not 0"));
    }
    absl::StatusOr<std::unique_ptr<BlobWriter>> writer =
        store_->NewBlobWriter(chunk.sha256());
    if (!writer.ok()) return writer.status();
    writer_ = *std::move(writer);
    current_sha256_ = chunk.sha256();
  } else if (chunk.sha256() != current_sha256_) {
    return absl::InvalidArgumentError(
        absl::StrCat("blob of \"", blob.path, "\" started before blob ",
                     ToHex(current_sha256_), " ended"));
  } else if (chunk.offset() != writer_->size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk of \"", blob.path, "\" at offset ", chunk.offset(),
                     ", expected ", writer_->size()));
  }
  if (chunk.data().size() > blob.size - writer_->size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "blob of \"", blob.path, "\" is longer than ", blob.size, " bytes"));
  }
  absl::Status status = writer_->Append(chunk.data());
  if (!status.ok()) return status;
  if (writer_->size() < blob.size) return absl::OkStatus();
  status = writer_->Commit();
  writer_.reset();
  if (!status.ok()) {
    if (absl::IsDataLoss(status)) {
      return absl::DataLossError(
          absl::StrCat("blob of \"", blob.path, "\": ", status.message()));
    }
    return status;
  }
  blob.received = true;
  ++files_received_;
  bytes_received_ += blob.size;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<SyncCodeResponse>> SyncCodeSession::OnCommit() {
  for (const std::string& sha256 : missing_order_) {
    const PendingBlob& blob = pending_.at(sha256);
    if (!blob.received) {
      return absl::FailedPreconditionError(absl::StrCat(
          "commit before the blob of \"", blob.path, "\" was received"));
    }
  }
  const std::string revision = TreeId(manifest_);
  absl::Status status = store_->PutTree(revision, manifest_);
  if (!status.ok()) return status;
  SyncCodeResponse response;
  auto* result = response.mutable_result();
  result->set_revision(revision);
  result->set_files_received(files_received_);
  result->set_bytes_received(bytes_received_);
  phase_ = Phase::kDone;
  // The manifest can be large; the session may linger until the RPC ends.
  manifest_.Clear();
  pending_.clear();
  missing_order_.clear();
  return response;
}

}  // namespace tether
