#include "controlplane/code/sync_code_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "sync/delta_applier.h"
#include "sync/manifest_diff.h"

namespace tether::controlplane {
namespace {

using ::tether::v1::BlobChunk;
using ::tether::v1::DeltaChunk;
using ::tether::v1::ManifestDiff;
using ::tether::v1::SyncCodeRequest;
using ::tether::v1::SyncCodeResponse;
using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

// A stored blob as the base of a delta.
class BlobBasis final : public sync::DeltaBasis {
 public:
  BlobBasis(BlobReader* reader, std::string sha256)
      : reader_(reader), sha256_(std::move(sha256)) {}

  uint64_t size() const override { return reader_->size(); }

  absl::StatusOr<size_t> ReadAt(uint64_t offset,
                                absl::Span<char> out) override {
    absl::StatusOr<size_t> n = reader_->ReadAt(offset, out);
    if (n.ok() && *n == 0 && !out.empty()) {
      return absl::DataLossError(
          absl::StrCat("stored blob ", ToHex(sha256_), " ended early"));
    }
    return n;
  }

 private:
  BlobReader* const reader_;
  const std::string sha256_;
};

// The entry at `path` in a tree sorted by path, or null.
const TreeEntry* FindEntry(const Tree& tree, const std::string& path) {
  auto it = std::lower_bound(tree.entries().begin(), tree.entries().end(), path,
                             [](const TreeEntry& entry, const std::string& p) {
                               return entry.path() < p;
                             });
  return it != tree.entries().end() && it->path() == path ? &*it : nullptr;
}

absl::Status BlobError(const std::string& path, const absl::Status& status) {
  return WithContext(absl::StrCat("blob of \"", path, "\""), status);
}

}  // namespace

SyncCodeSession::SyncCodeSession(CodeStore* store, SyncLimits limits)
    : store_(store), limits_(limits) {}

// Defined here so the writers' destructors (which discard) run in one place.
SyncCodeSession::~SyncCodeSession() { DiscardBlob(); }

void SyncCodeSession::DiscardBlob() {
  // The applier writes into writer_ and reads basis_: it goes first.
  applier_.reset();
  basis_.reset();
  base_reader_.reset();
  kept_delta_.reset();
  writer_.reset();
  current_is_delta_ = false;
}

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
      } else if (request.step_case() == SyncCodeRequest::kManifestDiff) {
        result = OnManifestDiff(request.manifest_diff());
      } else if (request.step_case() == SyncCodeRequest::STEP_NOT_SET) {
        result = absl::InvalidArgumentError("SyncCodeRequest without a step");
      } else {
        result = absl::FailedPreconditionError(
            "the first SyncCode message must be the manifest");
      }
      break;
    case Phase::kBlobs:
      switch (request.step_case()) {
        case SyncCodeRequest::kChunk:
        case SyncCodeRequest::kDelta: {
          absl::Status status = request.has_chunk() ? OnChunk(request.chunk())
                                                    : OnDelta(request.delta());
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
        case SyncCodeRequest::kManifestDiff:
          result = absl::FailedPreconditionError("manifest sent twice");
          break;
        default:
          result = absl::InvalidArgumentError("SyncCodeRequest without a step");
      }
      break;
  }
  if (!result.ok()) {
    phase_ = Phase::kFailed;
    DiscardBlob();
  }
  return result;
}

absl::Status SyncCodeSession::AddIfMissing(const TreeEntry& entry,
                                           std::string delta_base) {
  if (entry.kind() != TreeEntry::KIND_FILE) return absl::OkStatus();
  if (pending_.contains(entry.sha256())) return absl::OkStatus();
  ASSIGN_OR_RETURN(bool has, store_->HasBlob(entry.sha256()));
  if (has) return absl::OkStatus();
  pending_.emplace(entry.sha256(), PendingBlob{entry.size(), entry.path(),
                                               std::move(delta_base)});
  missing_order_.push_back(entry.sha256());
  return absl::OkStatus();
}

SyncCodeResponse SyncCodeSession::MissingResponse(bool with_bases) const {
  SyncCodeResponse response;
  auto* missing = response.mutable_missing();
  bool any_base = false;
  for (const std::string& sha256 : missing_order_) {
    missing->add_sha256(sha256);
    any_base |= !pending_.at(sha256).delta_base.empty();
  }
  // Parallel bases only when there is one: no-delta answers stay small.
  if (with_bases && any_base) {
    for (const std::string& sha256 : missing_order_) {
      missing->add_delta_base(pending_.at(sha256).delta_base);
    }
  }
  return response;
}

absl::StatusOr<std::optional<SyncCodeResponse>> SyncCodeSession::OnManifest(
    const Tree& manifest) {
  RETURN_IF_ERROR(sync::ValidateTree(manifest, limits_.tree));
  manifest_ = manifest;
  for (const TreeEntry& entry : manifest_.entries()) {
    RETURN_IF_ERROR(AddIfMissing(entry, ""));
  }
  phase_ = Phase::kBlobs;
  return MissingResponse(/*with_bases=*/false);
}

absl::StatusOr<std::optional<SyncCodeResponse>> SyncCodeSession::OnManifestDiff(
    const ManifestDiff& diff) {
  RETURN_IF_ERROR(CheckRevisionKey(diff.base_revision()));
  absl::StatusOr<Tree> base = store_->GetTree(diff.base_revision());
  if (absl::IsNotFound(base.status())) {
    return absl::NotFoundError(absl::StrCat("base revision ",
                                            diff.base_revision(),
                                            " is unknown; send the manifest"));
  }
  if (!base.ok()) return base.status();
  ASSIGN_OR_RETURN(Tree tree,
                   sync::ApplyManifestDiff(*base, diff, limits_.tree));
  for (const TreeEntry& entry : diff.upserts()) {
    // The previous version of the path is the natural delta base.
    const TreeEntry* old = FindEntry(*base, entry.path());
    std::string delta_base;
    if (old != nullptr && old->kind() == TreeEntry::KIND_FILE &&
        entry.kind() == TreeEntry::KIND_FILE &&
        old->sha256() != entry.sha256()) {
      delta_base = old->sha256();
    }
    RETURN_IF_ERROR(AddIfMissing(entry, std::move(delta_base)));
  }
  manifest_ = std::move(tree);
  phase_ = Phase::kBlobs;
  return MissingResponse(/*with_bases=*/true);
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
    ASSIGN_OR_RETURN(writer_, store_->NewBlobWriter(chunk.sha256()));
    current_sha256_ = chunk.sha256();
  } else if (chunk.sha256() != current_sha256_) {
    return absl::InvalidArgumentError(
        absl::StrCat("blob of \"", blob.path, "\" started before blob ",
                     ToHex(current_sha256_), " ended"));
  } else if (current_is_delta_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "blob of \"", blob.path, "\" mixes delta slices and chunks"));
  } else if (chunk.offset() != writer_->size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk of \"", blob.path, "\" at offset ", chunk.offset(),
                     ", expected ", writer_->size()));
  }
  if (chunk.data().size() > blob.size - writer_->size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "blob of \"", blob.path, "\" is longer than ", blob.size, " bytes"));
  }
  RETURN_IF_ERROR(writer_->Append(chunk.data()));
  bytes_received_ += chunk.data().size();
  if (writer_->size() < blob.size) return absl::OkStatus();
  return CommitBlob(blob);
}

absl::Status SyncCodeSession::StartDelta(const DeltaChunk& delta,
                                         const PendingBlob& blob) {
  if (delta.offset() != 0) {
    return absl::InvalidArgumentError(absl::StrCat("delta of \"", blob.path,
                                                   "\" starts at offset ",
                                                   delta.offset(), ", not 0"));
  }
  if (blob.delta_base.empty() || delta.base_sha256() != blob.delta_base) {
    return absl::InvalidArgumentError(absl::StrCat(
        "delta of \"", blob.path, "\" against ", ToHex(delta.base_sha256()),
        blob.delta_base.empty()
            ? ", but no delta base was offered"
            : absl::StrCat(", not the offered ", ToHex(blob.delta_base))));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> base,
                   store_->OpenBlob(blob.delta_base));
  ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer,
                   store_->NewBlobWriter(delta.sha256()));
  base_reader_ = std::move(base);
  writer_ = std::move(writer);
  current_sha256_ = delta.sha256();
  current_is_delta_ = true;
  delta_offset_ = 0;
  basis_ = std::make_unique<BlobBasis>(base_reader_.get(), blob.delta_base);
  BlobWriter* out = writer_.get();
  applier_ = std::make_unique<sync::DeltaApplier>(
      basis_.get(), blob.size,
      [out](absl::string_view data) { return out->Append(data); });
  if (limits_.keep_deltas) {
    absl::StatusOr<std::unique_ptr<DerivedWriter>> kept =
        store_->NewDeltaWriter(delta.sha256(), blob.delta_base);
    if (kept.ok()) {
      kept_delta_ = *std::move(kept);
    } else {
      TETHER_LOG(WARNING) << "not keeping the delta of " << blob.path << ": "
                          << kept.status();
    }
  }
  return absl::OkStatus();
}

absl::Status SyncCodeSession::OnDelta(const DeltaChunk& delta) {
  if (delta.data().size() > limits_.max_chunk_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("delta slice of ", delta.data().size(), " bytes exceeds ",
                     limits_.max_chunk_bytes));
  }
  auto it = pending_.find(delta.sha256());
  if (it == pending_.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "delta for blob ", ToHex(delta.sha256()), " that was not requested"));
  }
  PendingBlob& blob = it->second;
  if (blob.received) {
    return absl::InvalidArgumentError(
        absl::StrCat("blob of \"", blob.path, "\" sent twice"));
  }
  if (writer_ == nullptr) {
    RETURN_IF_ERROR(StartDelta(delta, blob));
  } else if (delta.sha256() != current_sha256_) {
    return absl::InvalidArgumentError(
        absl::StrCat("blob of \"", blob.path, "\" started before blob ",
                     ToHex(current_sha256_), " ended"));
  } else if (!current_is_delta_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "blob of \"", blob.path, "\" mixes chunks and delta slices"));
  } else if (delta.offset() != delta_offset_ ||
             delta.base_sha256() != blob.delta_base) {
    return absl::InvalidArgumentError(
        absl::StrCat("delta slice of \"", blob.path, "\" at offset ",
                     delta.offset(), ", expected ", delta_offset_));
  }
  delta_offset_ += delta.data().size();
  bytes_received_ += delta.data().size();
  absl::Status status = applier_->Update(delta.data());
  if (!status.ok()) return BlobError(blob.path, status);
  if (kept_delta_ != nullptr && !kept_delta_->Append(delta.data()).ok()) {
    kept_delta_.reset();  // Only an optimization: go on without it.
  }
  if (!delta.last()) return absl::OkStatus();
  status = applier_->Finish();
  if (!status.ok()) return BlobError(blob.path, status);
  if (writer_->size() != blob.size) {
    return absl::DataLossError(
        absl::StrCat("blob of \"", blob.path, "\": delta produced ",
                     writer_->size(), " bytes, not ", blob.size));
  }
  std::unique_ptr<DerivedWriter> kept = std::move(kept_delta_);
  RETURN_IF_ERROR(CommitBlob(blob));
  ++deltas_received_;
  // A delta as large as its blob saves an agent nothing.
  if (kept != nullptr && kept->size() < blob.size) {
    status = kept->Commit();
    if (!status.ok()) {
      TETHER_LOG(WARNING) << "not keeping the delta of " << blob.path << ": "
                          << status;
    }
  }
  return absl::OkStatus();
}

absl::Status SyncCodeSession::CommitBlob(PendingBlob& blob) {
  // The applier must not outlive the writer it appends to.
  applier_.reset();
  absl::Status status = writer_->Stage();
  if (status.ok()) staged_.push_back(std::move(writer_));
  DiscardBlob();
  if (!status.ok()) {
    if (absl::IsDataLoss(status)) return BlobError(blob.path, status);
    return status;
  }
  blob.received = true;
  ++files_received_;
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
  absl::Status status = store_->PublishBlobs(std::move(staged_));
  staged_.clear();
  if (!status.ok()) return status;
  const std::string revision = sync::TreeId(manifest_);
  // Trees are immutable: a no-change sync need not rewrite (and fsync) one.
  ASSIGN_OR_RETURN(bool stored, store_->HasRevision(revision));
  if (!stored) {
    RETURN_IF_ERROR(store_->PutTree(revision, manifest_));
  }
  SyncCodeResponse response;
  auto* result = response.mutable_result();
  result->set_revision(revision);
  result->set_files_received(files_received_);
  result->set_bytes_received(bytes_received_);
  result->set_deltas_received(deltas_received_);
  phase_ = Phase::kDone;
  // The manifest can be large; the session may linger until the RPC ends.
  manifest_.Clear();
  pending_.clear();
  missing_order_.clear();
  return response;
}

}  // namespace tether::controlplane
