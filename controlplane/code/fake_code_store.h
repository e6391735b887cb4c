#ifndef TETHER_CONTROLPLANE_CODE_FAKE_CODE_STORE_H_
#define TETHER_CONTROLPLANE_CODE_FAKE_CODE_STORE_H_

// In-memory CodeStore for tests: same contract as FileCodeStore (digest
// checks, nothing visible before Commit) without touching disk.

#include <cstddef>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "controlplane/code/code_store.h"

namespace tether::controlplane {

/// Thread-safe. Writers and readers must not outlive the store.
class FakeCodeStore final : public CodeStore {
 public:
  FakeCodeStore() = default;

  absl::StatusOr<bool> HasBlob(absl::string_view sha256) const override;
  absl::StatusOr<std::unique_ptr<BlobWriter>> NewBlobWriter(
      absl::string_view sha256) override;
  absl::Status PublishBlobs(
      std::vector<std::unique_ptr<BlobWriter>> staged) override;
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenBlob(
      absl::string_view sha256) const override;
  absl::Status PutTree(absl::string_view revision,
                       const tether::v1::Tree& tree) override;
  absl::StatusOr<tether::v1::Tree> GetTree(
      absl::string_view revision) const override;
  absl::StatusOr<bool> HasRevision(absl::string_view revision) const override;
  absl::StatusOr<std::string> GetSignature(
      absl::string_view sha256) const override;
  absl::Status PutSignature(absl::string_view sha256,
                            absl::string_view signature) override;
  absl::StatusOr<std::unique_ptr<DerivedWriter>> NewDeltaWriter(
      absl::string_view sha256, absl::string_view base) override;
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenDelta(
      absl::string_view sha256, absl::string_view base) const override;
  /// Has no clock: everything counts as stored before `cutoff`.
  absl::StatusOr<GarbageStats> CollectGarbage(
      const absl::flat_hash_set<std::string>& keep, absl::Time cutoff) override;

  /// Stores `data` directly; returns its digest.
  std::string AddBlobForTest(absl::string_view data);
  /// Replaces a stored blob's bytes without fixing its key, to test readers
  /// that must notice.
  void CorruptBlobForTest(absl::string_view sha256, std::string data);
  size_t BlobCountForTest() const;
  size_t DeltaCountForTest() const;

 private:
  friend class FakeBlobWriter;
  friend class FakeDerivedWriter;
  void Insert(std::string sha256, std::string data);
  void InsertDelta(std::string key, std::string data);

  mutable absl::Mutex mu_;
  // Blobs are shared so open readers survive a concurrent overwrite.
  absl::flat_hash_map<std::string, std::shared_ptr<const std::string>> blobs_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, tether::v1::Tree> trees_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> signatures_
      ABSL_GUARDED_BY(mu_);
  // Keyed by target digest + base digest.
  absl::flat_hash_map<std::string, std::shared_ptr<const std::string>> deltas_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_CODE_FAKE_CODE_STORE_H_
