#include "controlplane/code/fake_code_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace tether::controlplane {

using ::tether::v1::Tree;

class FakeBlobWriter final : public BlobWriter {
 public:
  FakeBlobWriter(FakeCodeStore* store, std::string sha256)
      : store_(store), sha256_(std::move(sha256)) {}

  absl::Status Append(absl::string_view data) override {
    if (closed_) return absl::FailedPreconditionError("blob writer is closed");
    data_.append(data.data(), data.size());
    return absl::OkStatus();
  }

  uint64_t size() const override { return data_.size(); }

  absl::Status Commit() override {
    RETURN_IF_ERROR(Stage());
    Publish();
    return absl::OkStatus();
  }

  absl::Status Stage() override {
    if (closed_) return absl::FailedPreconditionError("blob writer is closed");
    closed_ = true;
    const std::string actual = Sha256Of(data_);
    if (actual != sha256_) {
      return absl::DataLossError(
          absl::StrCat("blob ", ToHex(sha256_), ": received ", data_.size(),
                       " bytes that hash to ", ToHex(actual)));
    }
    staged_ = true;
    return absl::OkStatus();
  }

  bool staged() const { return staged_; }

  void Publish() {
    staged_ = false;
    store_->Insert(sha256_, std::move(data_));
  }

 private:
  FakeCodeStore* const store_;
  const std::string sha256_;
  std::string data_;
  bool closed_ = false;
  bool staged_ = false;
};

class FakeDerivedWriter final : public DerivedWriter {
 public:
  FakeDerivedWriter(FakeCodeStore* store, std::string key)
      : store_(store), key_(std::move(key)) {}

  absl::Status Append(absl::string_view data) override {
    if (closed_) return absl::FailedPreconditionError("writer is closed");
    data_.append(data.data(), data.size());
    return absl::OkStatus();
  }

  uint64_t size() const override { return data_.size(); }

  absl::Status Commit() override {
    if (closed_) return absl::FailedPreconditionError("writer is closed");
    closed_ = true;
    store_->InsertDelta(key_, std::move(data_));
    return absl::OkStatus();
  }

 private:
  FakeCodeStore* const store_;
  const std::string key_;
  std::string data_;
  bool closed_ = false;
};

namespace {

class FakeBlobReader final : public BlobReader {
 public:
  explicit FakeBlobReader(std::shared_ptr<const std::string> data)
      : data_(std::move(data)) {}

  uint64_t size() const override { return data_->size(); }

  absl::Status Read(size_t max_bytes, std::string* out) override {
    const size_t n = std::min(max_bytes, data_->size() - offset_);
    out->assign(*data_, offset_, n);
    offset_ += n;
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> ReadAt(uint64_t offset,
                                absl::Span<char> out) override {
    if (offset >= data_->size()) return 0;
    const size_t n = std::min<uint64_t>(out.size(), data_->size() - offset);
    std::copy_n(data_->data() + offset, n, out.data());
    return n;
  }

 private:
  const std::shared_ptr<const std::string> data_;
  size_t offset_ = 0;
};

}  // namespace

absl::StatusOr<bool> FakeCodeStore::HasBlob(absl::string_view sha256) const {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  absl::MutexLock lock(&mu_);
  return blobs_.contains(sha256);
}

absl::StatusOr<std::unique_ptr<BlobWriter>> FakeCodeStore::NewBlobWriter(
    absl::string_view sha256) {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  return std::make_unique<FakeBlobWriter>(this, std::string(sha256));
}

absl::Status FakeCodeStore::PublishBlobs(
    std::vector<std::unique_ptr<BlobWriter>> staged) {
  for (const std::unique_ptr<BlobWriter>& writer : staged) {
    auto* fake = dynamic_cast<FakeBlobWriter*>(writer.get());
    if (fake == nullptr || !fake->staged()) {
      return absl::FailedPreconditionError("publishing a blob not staged");
    }
  }
  for (const std::unique_ptr<BlobWriter>& writer : staged) {
    static_cast<FakeBlobWriter*>(writer.get())->Publish();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BlobReader>> FakeCodeStore::OpenBlob(
    absl::string_view sha256) const {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  absl::MutexLock lock(&mu_);
  auto it = blobs_.find(sha256);
  if (it == blobs_.end()) {
    return absl::NotFoundError(absl::StrCat("no blob ", ToHex(sha256)));
  }
  return std::make_unique<FakeBlobReader>(it->second);
}

absl::Status FakeCodeStore::PutTree(absl::string_view revision,
                                    const Tree& tree) {
  RETURN_IF_ERROR(CheckTreeMatchesRevision(revision, tree));
  absl::MutexLock lock(&mu_);
  trees_[revision] = tree;
  return absl::OkStatus();
}

absl::StatusOr<Tree> FakeCodeStore::GetTree(absl::string_view revision) const {
  RETURN_IF_ERROR(CheckRevisionKey(revision));
  absl::MutexLock lock(&mu_);
  auto it = trees_.find(revision);
  if (it == trees_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown revision ", revision));
  }
  return it->second;
}

absl::StatusOr<bool> FakeCodeStore::HasRevision(
    absl::string_view revision) const {
  RETURN_IF_ERROR(CheckRevisionKey(revision));
  absl::MutexLock lock(&mu_);
  return trees_.contains(revision);
}

std::string FakeCodeStore::AddBlobForTest(absl::string_view data) {
  std::string sha256 = Sha256Of(data);
  Insert(sha256, std::string(data));
  return sha256;
}

void FakeCodeStore::CorruptBlobForTest(absl::string_view sha256,
                                       std::string data) {
  Insert(std::string(sha256), std::move(data));
}

size_t FakeCodeStore::BlobCountForTest() const {
  absl::MutexLock lock(&mu_);
  return blobs_.size();
}

void FakeCodeStore::Insert(std::string sha256, std::string data) {
  auto blob = std::make_shared<const std::string>(std::move(data));
  absl::MutexLock lock(&mu_);
  blobs_[std::move(sha256)] = std::move(blob);
}

absl::StatusOr<std::string> FakeCodeStore::GetSignature(
    absl::string_view sha256) const {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  absl::MutexLock lock(&mu_);
  auto it = signatures_.find(sha256);
  if (it == signatures_.end()) {
    return absl::NotFoundError(absl::StrCat("no signature of ", ToHex(sha256)));
  }
  return it->second;
}

absl::Status FakeCodeStore::PutSignature(absl::string_view sha256,
                                         absl::string_view signature) {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  absl::MutexLock lock(&mu_);
  signatures_[sha256] = std::string(signature);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DerivedWriter>> FakeCodeStore::NewDeltaWriter(
    absl::string_view sha256, absl::string_view base) {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  RETURN_IF_ERROR(CheckBlobKey(base));
  return std::make_unique<FakeDerivedWriter>(this, absl::StrCat(sha256, base));
}

absl::StatusOr<std::unique_ptr<BlobReader>> FakeCodeStore::OpenDelta(
    absl::string_view sha256, absl::string_view base) const {
  RETURN_IF_ERROR(CheckBlobKey(sha256));
  RETURN_IF_ERROR(CheckBlobKey(base));
  absl::MutexLock lock(&mu_);
  auto it = deltas_.find(absl::StrCat(sha256, base));
  if (it == deltas_.end()) {
    return absl::NotFoundError(absl::StrCat("no delta to ", ToHex(sha256)));
  }
  return std::make_unique<FakeBlobReader>(it->second);
}

size_t FakeCodeStore::DeltaCountForTest() const {
  absl::MutexLock lock(&mu_);
  return deltas_.size();
}

void FakeCodeStore::InsertDelta(std::string key, std::string data) {
  auto delta = std::make_shared<const std::string>(std::move(data));
  absl::MutexLock lock(&mu_);
  deltas_[std::move(key)] = std::move(delta);
}

absl::StatusOr<GarbageStats> FakeCodeStore::CollectGarbage(
    const absl::flat_hash_set<std::string>& keep, absl::Time /*cutoff*/) {
  absl::MutexLock lock(&mu_);
  GarbageStats stats;
  absl::flat_hash_set<std::string> held;
  for (auto it = trees_.begin(); it != trees_.end();) {
    if (!keep.contains(it->first)) {
      ++stats.trees;
      trees_.erase(it++);
      continue;
    }
    for (const auto& entry : it->second.entries()) held.insert(entry.sha256());
    ++it;
  }
  for (auto it = blobs_.begin(); it != blobs_.end();) {
    if (held.contains(it->first)) {
      ++it;
      continue;
    }
    ++stats.blobs;
    stats.bytes += it->second->size();
    blobs_.erase(it++);
  }
  // Derived keys are the raw digests: 32 bytes, or 64 for <blob><base>.
  const auto orphan =
      [this](absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        for (size_t at = 0; at + 32 <= key.size(); at += 32) {
          if (!blobs_.contains(key.substr(at, 32))) return true;
        }
        return false;
      };
  for (auto it = signatures_.begin(); it != signatures_.end();) {
    if (orphan(it->first)) {
      ++stats.derived;
      signatures_.erase(it++);
    } else {
      ++it;
    }
  }
  for (auto it = deltas_.begin(); it != deltas_.end();) {
    if (orphan(it->first)) {
      ++stats.derived;
      deltas_.erase(it++);
    } else {
      ++it;
    }
  }
  return stats;
}

}  // namespace tether::controlplane
