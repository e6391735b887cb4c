#include "controlplane/code/pull_code_session.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace tether {

using ::tether::v1::PullCodeRequest;
using ::tether::v1::PullCodeResponse;
using ::tether::v1::TreeEntry;

PullCodeSession::PullCodeSession(const CodeStore* store,
                                 PullCodeRequest request,
                                 size_t max_chunk_bytes)
    : store_(store),
      request_(std::move(request)),
      max_chunk_bytes_(std::max<size_t>(max_chunk_bytes, 1)) {}

PullCodeSession::~PullCodeSession() = default;

absl::Status PullCodeSession::Start() {
  absl::Status status = CheckRevisionKey(request_.revision());
  if (!status.ok()) return status;
  absl::flat_hash_set<absl::string_view> skip;
  for (const std::string& sha256 : request_.have()) {
    if (sha256.size() != kSha256Size) {
      return absl::InvalidArgumentError(
          absl::StrCat("`have` digest of ", sha256.size(), " bytes"));
    }
    skip.insert(sha256);
  }
  absl::StatusOr<tether::v1::Tree> tree = store_->GetTree(request_.revision());
  if (!tree.ok()) return tree.status();
  tree_ = *std::move(tree);
  for (const TreeEntry& entry : tree_.entries()) {
    if (entry.kind() != TreeEntry::KIND_FILE) continue;
    // Inserting into `skip` also deduplicates the blob list.
    if (!skip.insert(entry.sha256()).second) continue;
    blobs_.push_back(Blob{entry.sha256(), entry.size()});
  }
  started_ = true;
  return absl::OkStatus();
}

absl::StatusOr<bool> PullCodeSession::Next(PullCodeResponse* out) {
  if (!started_) {
    return absl::FailedPreconditionError("PullCodeSession not started");
  }
  out->Clear();
  if (!tree_sent_) {
    tree_sent_ = true;
    *out->mutable_tree() = std::move(tree_);
    return true;
  }
  if (next_blob_ == blobs_.size()) return false;
  const Blob& blob = blobs_[next_blob_];
  if (reader_ == nullptr) {
    absl::StatusOr<std::unique_ptr<BlobReader>> reader =
        store_->OpenBlob(blob.sha256);
    if (absl::IsNotFound(reader.status())) {
      return absl::DataLossError(absl::StrCat("revision ", request_.revision(),
                                              " lacks blob ",
                                              ToHex(blob.sha256)));
    }
    if (!reader.ok()) return reader.status();
    if ((*reader)->size() != blob.size) {
      return absl::DataLossError(
          absl::StrCat("stored blob ", ToHex(blob.sha256), " has ",
                       (*reader)->size(), " bytes, the tree says ", blob.size));
    }
    reader_ = *std::move(reader);
    offset_ = 0;
  }
  auto* chunk = out->mutable_chunk();
  chunk->set_sha256(blob.sha256);
  chunk->set_offset(offset_);
  const uint64_t want =
      std::min<uint64_t>(max_chunk_bytes_, blob.size - offset_);
  if (want > 0) {
    absl::Status status =
        reader_->Read(static_cast<size_t>(want), chunk->mutable_data());
    if (!status.ok()) return status;
    if (chunk->data().empty()) {
      return absl::DataLossError(absl::StrCat(
          "stored blob ", ToHex(blob.sha256), " ended early at ", offset_));
    }
  }
  offset_ += chunk->data().size();
  if (offset_ == blob.size) {
    reader_.reset();
    ++next_blob_;
  }
  return true;
}

}  // namespace tether
