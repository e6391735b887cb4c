#ifndef TETHER_CONTROLPLANE_CODE_FILE_CODE_STORE_H_
#define TETHER_CONTROLPLANE_CODE_FILE_CODE_STORE_H_

// CodeStore on a local filesystem. Layout under Options::dir:
//
//   blobs/<ab>/<hex>      blob bytes, <ab> = first two hex digits (256 dirs)
//   trees/<hex>.pb        serialized tether.v1.Tree of revision <hex>
//   sigs/<hex>            librsync signature of blob <hex> (derived)
//   deltas/<hex>.<base>   delta from blob <base> to blob <hex> (derived)
//   tmp/                  in-progress writes; emptied by Create
//
// A blob's mtime says when it was last stored or found by HasBlob, a
// tree's when it was put: CollectGarbage spares what is newer than its
// cutoff.
//
// Blobs and trees are written under tmp/, fsynced, renamed into place and
// their directory fsynced, so after a crash a path holds all of its bytes
// or does not exist. Staged blobs (BlobWriter::Stage) wait verified in
// tmp/; PublishBlobs flushes the filesystem once (syncfs), renames them all
// into place and flushes again, which keeps that guarantee for a batch. Derived
// files are renamed into place without fsync: a crash may leave one empty or
// torn, which its reader detects (signatures are framed, deltas produce a
// digest-checked result) and which costs a recomputation or a literal transfer.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controlplane/code/code_store.h"

namespace tether::controlplane {

/// Thread-safe without locks: writers never share a temp file and rename(2)
/// publishes atomically. One process owns `dir` (Create clears tmp/).
class FileCodeStore final : public CodeStore {
 public:
  struct Options {
    /// Root of the store; created if missing. Required.
    std::string dir;
  };

  /// Creates the layout, and drops temp files a crash left behind.
  /// INVALID_ARGUMENT for an empty dir; filesystem errors otherwise.
  static absl::StatusOr<std::unique_ptr<FileCodeStore>> Create(Options options);

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
  absl::StatusOr<GarbageStats> CollectGarbage(
      const absl::flat_hash_set<std::string>& keep, absl::Time cutoff) override;

  /// Where a blob lives; for tests and tools.
  std::string BlobPath(absl::string_view sha256) const;

 private:
  explicit FileCodeStore(std::string dir) : dir_(std::move(dir)) {}

  std::string TreePath(absl::string_view revision) const;
  std::string SignaturePath(absl::string_view sha256) const;
  std::string DeltaPath(absl::string_view sha256, absl::string_view base) const;

  const std::string dir_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_CODE_FILE_CODE_STORE_H_
