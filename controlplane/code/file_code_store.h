#ifndef TETHER_CONTROLPLANE_CODE_FILE_CODE_STORE_H_
#define TETHER_CONTROLPLANE_CODE_FILE_CODE_STORE_H_

// CodeStore on a local filesystem. Layout under Options::dir:
//
//   blobs/<ab>/<hex>      blob bytes, <ab> = first two hex digits (256 dirs)
//   trees/<hex>.pb        serialized tether.v1.Tree of revision <hex>
//   tmp/                  in-progress writes; emptied by Create
//
// Every file is written under tmp/, fsynced, renamed into place and its
// directory fsynced, so after a crash a path holds all of its bytes or does
// not exist.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controlplane/code/code_store.h"

namespace tether {

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
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenBlob(
      absl::string_view sha256) const override;
  absl::Status PutTree(absl::string_view revision,
                       const tether::v1::Tree& tree) override;
  absl::StatusOr<tether::v1::Tree> GetTree(
      absl::string_view revision) const override;
  absl::StatusOr<bool> HasRevision(absl::string_view revision) const override;

  /// Where a blob lives; for tests and tools.
  std::string BlobPath(absl::string_view sha256) const;

 private:
  explicit FileCodeStore(std::string dir) : dir_(std::move(dir)) {}

  std::string TreePath(absl::string_view revision) const;

  const std::string dir_;
};

}  // namespace tether

#endif  // TETHER_CONTROLPLANE_CODE_FILE_CODE_STORE_H_
