#include "controlplane/code/pull_code_session.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "sync/delta_encoder.h"
#include "sync/manifest_diff.h"
#include "sync/signature.h"
#include "sync/tree.h"

namespace tether::controlplane {

using ::tether::v1::PullCodeRequest;
using ::tether::v1::PullCodeResponse;
using ::tether::v1::Tree;
using ::tether::v1::TreeEntry;

PullCodeSession::PullCodeSession(CodeStore* store, PullCodeRequest request,
                                 size_t max_chunk_bytes)
    : store_(store),
      request_(std::move(request)),
      max_chunk_bytes_(std::max<size_t>(max_chunk_bytes, 1)) {}

PullCodeSession::~PullCodeSession() = default;

absl::Status PullCodeSession::Start() {
  RETURN_IF_ERROR(CheckRevisionKey(request_.revision()));
  absl::flat_hash_set<absl::string_view> have;
  for (const std::string& sha256 : request_.have()) {
    if (sha256.size() != kSha256Size) {
      return absl::InvalidArgumentError(
          absl::StrCat("`have` digest of ", sha256.size(), " bytes"));
    }
    have.insert(sha256);
  }
  ASSIGN_OR_RETURN(tree_, store_->GetTree(request_.revision()));
  if (sync::IsRevisionId(request_.base_revision())) {
    absl::StatusOr<Tree> base = store_->GetTree(request_.base_revision());
    if (base.ok()) {
      base_revision_ = request_.base_revision();
      base_tree_ = *std::move(base);
    } else if (!absl::IsNotFound(base.status())) {
      TETHER_LOG(WARNING) << "pulling without a base: " << base.status();
    }
  }
  if (request_.have_base()) {
    for (const TreeEntry& entry : base_tree_.entries()) {
      if (entry.kind() == TreeEntry::KIND_FILE) have.insert(entry.sha256());
    }
  }
  // What the agent holds per path, from the base files it still has.
  absl::flat_hash_map<absl::string_view, absl::string_view> base_by_path;
  for (const TreeEntry& entry : base_tree_.entries()) {
    if (entry.kind() == TreeEntry::KIND_FILE && have.contains(entry.sha256())) {
      base_by_path.emplace(entry.path(), entry.sha256());
    }
  }
  absl::flat_hash_set<absl::string_view> listed;
  for (const TreeEntry& entry : tree_.entries()) {
    if (entry.kind() != TreeEntry::KIND_FILE) continue;
    if (have.contains(entry.sha256())) continue;
    if (!listed.insert(entry.sha256()).second) continue;
    Blob blob{entry.sha256(), entry.size(), ""};
    auto it = base_by_path.find(entry.path());
    if (it != base_by_path.end()) blob.delta_base = std::string(it->second);
    blobs_.push_back(std::move(blob));
  }
  started_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BlobReader>> PullCodeSession::OpenStoredBlob(
    const Blob& blob) const {
  absl::StatusOr<std::unique_ptr<BlobReader>> reader =
      store_->OpenBlob(blob.sha256);
  if (absl::IsNotFound(reader.status())) {
    return absl::DataLossError(absl::StrCat(
        "revision ", request_.revision(), " lacks blob ", ToHex(blob.sha256)));
  }
  if (!reader.ok()) return reader.status();
  if ((*reader)->size() != blob.size) {
    return absl::DataLossError(
        absl::StrCat("stored blob ", ToHex(blob.sha256), " has ",
                     (*reader)->size(), " bytes, the tree says ", blob.size));
  }
  return reader;
}

absl::StatusOr<std::string> PullCodeSession::BaseSignature(
    const std::string& base) {
  absl::StatusOr<std::string> kept = store_->GetSignature(base);
  if (kept.ok() && sync::ParseSignature(*kept).ok()) return kept;
  if (!kept.ok() && !absl::IsNotFound(kept.status())) return kept.status();
  // First delta against this blob: sign it once, keep it for later pulls.
  ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader, store_->OpenBlob(base));
  sync::SignatureBuilder builder(sync::SignatureParamsFor(reader->size()));
  std::string buf;
  uint64_t read = 0;
  while (true) {
    RETURN_IF_ERROR(reader->Read(max_chunk_bytes_, &buf));
    if (buf.empty()) break;
    read += buf.size();
    RETURN_IF_ERROR(builder.Update(buf));
  }
  if (read != reader->size()) {
    return absl::DataLossError(
        absl::StrCat("stored blob ", ToHex(base), " ended early"));
  }
  ASSIGN_OR_RETURN(std::string signature, builder.Finish());
  absl::Status kept_status = store_->PutSignature(base, signature);
  if (!kept_status.ok()) {
    TETHER_LOG(WARNING) << "not keeping a signature: " << kept_status;
  }
  return signature;
}

absl::Status PullCodeSession::StartDelta(const Blob& blob) {
  delta_started_ = true;
  input_done_ = false;
  pending_.clear();
  offset_ = 0;
  ++deltas_;
  absl::StatusOr<std::unique_ptr<BlobReader>> kept =
      store_->OpenDelta(blob.sha256, blob.delta_base);
  if (kept.ok() && (*kept)->size() < blob.size) {
    reader_ = *std::move(kept);
    ++kept_deltas_;
    return absl::OkStatus();
  }
  if (!kept.ok() && !absl::IsNotFound(kept.status())) return kept.status();
  ASSIGN_OR_RETURN(std::string signature, BaseSignature(blob.delta_base));
  ASSIGN_OR_RETURN(std::unique_ptr<sync::DeltaEncoder> encoder,
                   sync::DeltaEncoder::Create(signature));
  ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader, OpenStoredBlob(blob));
  encoder_ = std::move(encoder);
  reader_ = std::move(reader);
  return absl::OkStatus();
}

void PullCodeSession::EndBlob() {
  reader_.reset();
  encoder_.reset();
  pending_.clear();
  delta_started_ = false;
  ++next_blob_;
}

absl::StatusOr<bool> PullCodeSession::Next(PullCodeResponse* out) {
  if (!started_) {
    return absl::FailedPreconditionError("PullCodeSession not started");
  }
  out->Clear();
  if (!tree_sent_) {
    tree_sent_ = true;
    if (base_revision_.empty()) {
      *out->mutable_tree() = std::move(tree_);
    } else {
      *out->mutable_tree_diff() =
          sync::MakeManifestDiff(base_revision_, base_tree_, tree_);
      base_tree_.Clear();
    }
    tree_.Clear();
    return true;
  }
  if (next_blob_ == blobs_.size()) return false;
  const Blob& blob = blobs_[next_blob_];
  if (blob.delta_base.empty()) return NextChunk(blob, out);
  return NextDelta(blob, out);
}

absl::StatusOr<bool> PullCodeSession::NextChunk(const Blob& blob,
                                                PullCodeResponse* out) {
  if (reader_ == nullptr) {
    ASSIGN_OR_RETURN(reader_, OpenStoredBlob(blob));
    offset_ = 0;
  }
  auto* chunk = out->mutable_chunk();
  chunk->set_sha256(blob.sha256);
  chunk->set_offset(offset_);
  const uint64_t want =
      std::min<uint64_t>(max_chunk_bytes_, blob.size - offset_);
  if (want > 0) {
    RETURN_IF_ERROR(
        reader_->Read(static_cast<size_t>(want), chunk->mutable_data()));
    if (chunk->data().empty()) {
      return absl::DataLossError(absl::StrCat(
          "stored blob ", ToHex(blob.sha256), " ended early at ", offset_));
    }
  }
  offset_ += chunk->data().size();
  if (offset_ == blob.size) EndBlob();
  return true;
}

absl::StatusOr<bool> PullCodeSession::NextDelta(const Blob& blob,
                                                PullCodeResponse* out) {
  if (!delta_started_) {
    RETURN_IF_ERROR(StartDelta(blob));
  }
  auto* delta = out->mutable_delta();
  delta->set_sha256(blob.sha256);
  delta->set_base_sha256(blob.delta_base);
  delta->set_offset(offset_);
  if (encoder_ == nullptr) {
    // A kept delta: copy it through.
    RETURN_IF_ERROR(reader_->Read(max_chunk_bytes_, delta->mutable_data()));
    offset_ += delta->data().size();
    delta->set_last(offset_ >= reader_->size());
    if (delta->data().empty() && !delta->last()) {
      return absl::DataLossError(
          absl::StrCat("kept delta to ", ToHex(blob.sha256), " ended early"));
    }
  } else {
    const sync::ByteSink sink = [this](absl::string_view data) {
      pending_.append(data.data(), data.size());
      return absl::OkStatus();
    };
    std::string buf;
    while (pending_.size() <= max_chunk_bytes_ && !input_done_) {
      RETURN_IF_ERROR(reader_->Read(max_chunk_bytes_, &buf));
      RETURN_IF_ERROR(buf.empty() ? encoder_->Finish(sink)
                                  : encoder_->Update(buf, sink));
      input_done_ = buf.empty();
    }
    const size_t n = std::min(pending_.size(), max_chunk_bytes_);
    delta->set_data(pending_.substr(0, n));
    pending_.erase(0, n);
    offset_ += n;
    delta->set_last(input_done_ && pending_.empty());
  }
  if (delta->last()) EndBlob();
  return true;
}

}  // namespace tether::controlplane
