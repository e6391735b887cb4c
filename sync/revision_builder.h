#ifndef TETHER_SYNC_REVISION_BUILDER_H_
#define TETHER_SYNC_REVISION_BUILDER_H_

// Materializes code revisions on an agent. Layout under `workdir`:
//
//   revs/<rev>/                 a complete revision
//   revs/<rev>.tree.pb          its Tree (sidecar, outside the tree so user
//                               code never sees it); written before
//                               revs/<rev>/ appears, so a revision dir always
//                               has one
//   revs/<rev>.staging-<pid>/   a build in progress
//   current -> revs/<rev>       relative symlink, swapped atomically
//
// A build writes new blobs into the staging dir (from chunks, or by
// patching a current-revision file with a delta), hard-links unchanged
// files from the current revision, fsyncs everything, renames staging to
// revs/<rev>, then swaps `current`. A crash at any point leaves the old
// revision whole and current.
//
// Files are made read-only (0444, or 0555 when executable): one inode is
// shared by every revision that holds the same bytes, so an in-place edit
// must fail instead of leaking into other revisions. Directories stay 0755
// (Python writes __pycache__).
//
// One build per workdir at a time (the agent serializes them): a build
// removes every stale staging dir it finds.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sync/tree.h"
#include "tether/v1/code.pb.h"

namespace tether {
class Sha256;
}  // namespace tether

namespace tether::sync {

class DeltaApplier;
class DeltaBasis;

/// `<workdir>/revs/<revision>`.
std::string RevisionDir(const std::string& workdir,
                        const std::string& revision);

/// The revision `<workdir>/current` points to. NOT_FOUND when there is none;
/// DATA_LOSS when the link does not name a revision.
absl::StatusOr<std::string> CurrentRevision(const std::string& workdir);

/// The tree of a built revision, from its sidecar. NOT_FOUND when it is not
/// built; DATA_LOSS when the sidecar is corrupt.
absl::StatusOr<tether::v1::Tree> RevisionTree(const std::string& workdir,
                                              const std::string& revision);

/// Whether a complete build of `revision` exists (its dir and sidecar).
bool RevisionExists(const std::string& workdir, const std::string& revision);

/// Removes the built revisions of `workdir` that are neither current nor in
/// `keep` (the ones workers still run), and what earlier removals left, so
/// a long `tether dev` session does not fill the disk. A revision first
/// moves aside with one rename, so a crash never leaves a half-removed one
/// that looks built. Staging dirs are left to the builder.
absl::Status PruneRevisions(const std::string& workdir,
                            const absl::flat_hash_set<std::string>& keep);

/// Points `<workdir>/current` at an existing revision atomically (temp
/// symlink renamed over the old one) and fsyncs `workdir`.
/// NOT_FOUND when the revision is not complete.
absl::Status SwitchCurrent(const std::string& workdir,
                           const std::string& revision);

/// Distinct digests of the current revision's files that are still intact
/// enough to link (regular file of the recorded size): the `have` list of
/// PullCodeRequest. Empty when there is no current revision; other errors
/// are logged and also give an empty list (the pull then sends everything).
std::vector<std::string> HaveDigests(const std::string& workdir);

/// Builds one revision from its tree and the chunks of the blobs the
/// current revision lacks. Not thread-safe. Destroying it before Finish
/// succeeded removes the staging dir.
class RevisionBuilder {
 public:
  struct Options {
    /// Agent work directory; created if missing. Required.
    std::string workdir;
    /// Revision id the tree must hash to. Required.
    std::string revision;
    TreeLimits limits;
  };

  /// Checks the tree and prepares the staging dir. INVALID_ARGUMENT for a
  /// malformed revision id or a tree ValidateTree rejects (nothing written),
  /// DATA_LOSS when TreeId(tree) != revision, ALREADY_EXISTS when the
  /// revision is already built (use SwitchCurrent), filesystem errors.
  static absl::StatusOr<std::unique_ptr<RevisionBuilder>> Create(
      Options options, tether::v1::Tree tree);

  RevisionBuilder(const RevisionBuilder&) = delete;
  RevisionBuilder& operator=(const RevisionBuilder&) = delete;
  ~RevisionBuilder();

  /// Writes one chunk. Blobs come one after another, each in order from
  /// offset 0. INVALID_ARGUMENT for a digest not in the tree or already
  /// received, a wrong offset, interleaved blobs, bytes past the blob's size
  /// or a chunk over 4 MiB; DATA_LOSS when a finished blob does not match
  /// its digest. After any error the builder only fails.
  absl::Status AddChunk(const tether::v1::BlobChunk& chunk);

  /// Applies one slice of a delta against the current revision's file with
  /// digest `base_sha256`, writing the result into staging as it goes (one
  /// slice and one output buffer in memory). Same ordering rules and errors
  /// as AddChunk (a blob is either chunks or one delta), plus
  /// FAILED_PRECONDITION when the current revision holds no intact file
  /// with the base digest, and DATA_LOSS when the delta is corrupt or its
  /// result (checked at the `last` slice) has the wrong size or digest,
  /// e.g. because the base file was altered on disk (pull again without
  /// `have`). Nothing is published on error.
  absl::Status AddDelta(const tether::v1::DeltaChunk& delta);

  /// Completes the revision: links or copies the files no chunk carried,
  /// creates symlinks, fsyncs, publishes revs/<rev> and switches `current`.
  /// Returns the revision dir. FAILED_PRECONDITION naming the first path
  /// whose bytes neither arrived nor exist in the current revision, or when
  /// a blob is incomplete; ABORTED when a current-revision file to link
  /// changed on disk (pull again with an empty `have`). Call once.
  absl::StatusOr<std::string> Finish();

 private:
  struct Blob {
    uint64_t size = 0;
    // Indexes of the tree's entries with this digest, in tree order.
    std::vector<int> entries;
    bool received = false;
  };

  RevisionBuilder(Options options, tether::v1::Tree tree, std::string staging);

  absl::Status Prepare();
  absl::Status LoadLinkSources();
  absl::Status MakeParentDirs(const std::string& path);
  absl::Status StartBlob(const std::string& sha256, const Blob& blob);
  absl::Status StartDelta(const tether::v1::DeltaChunk& delta,
                          const Blob& blob);
  absl::Status CheckNotEnded() const;
  // The first error ends the build: the blob being written is discarded.
  absl::Status EndOnError(absl::Status status);
  // The blob `sha256` names, refused when the tree has none or it arrived.
  absl::StatusOr<const Blob*> UnreceivedBlob(const std::string& sha256,
                                             absl::string_view piece) const;
  // A chunk or delta slice while a blob is open must continue that blob in
  // the same form.
  absl::Status CheckContinuesCurrent(const std::string& sha256,
                                     const std::string& path,
                                     bool is_delta) const;
  absl::Status AddChunkImpl(const tether::v1::BlobChunk& chunk);
  absl::Status AddDeltaImpl(const tether::v1::DeltaChunk& delta);
  absl::Status FinishBlob();
  absl::Status Materialize(const tether::v1::TreeEntry& entry);
  absl::Status FinishImpl();
  void DiscardCurrentBlob();
  void EndDelta();

  const Options options_;
  const tether::v1::Tree tree_;
  const std::string revs_dir_;
  const std::string staging_;
  bool failed_ = false;
  bool finished_ = false;

  absl::flat_hash_map<std::string, Blob> blobs_;
  // Digest + mode -> a file with those bytes and mode: in staging (relative
  // path) or in the previous revision (absolute path).
  absl::flat_hash_map<std::string, std::string> staged_;
  absl::flat_hash_map<std::string, std::string> previous_;
  // Digest -> any previous-revision file with those bytes, for a mode change.
  absl::flat_hash_map<std::string, std::string> previous_any_mode_;
  // Digest -> a previous-revision file of any digest, as a delta base.
  absl::flat_hash_map<std::string, std::string> delta_bases_;
  // Staging-relative directories created so far ("" is the root).
  absl::flat_hash_set<std::string> dirs_;

  // The blob being received.
  std::string current_sha256_;
  int current_fd_ = -1;
  std::string current_path_;
  uint64_t current_written_ = 0;
  std::unique_ptr<Sha256> hasher_;
  // When the blob being received is a delta: its base and the patcher.
  bool current_is_delta_ = false;
  uint64_t delta_offset_ = 0;
  int base_fd_ = -1;
  std::unique_ptr<DeltaBasis> basis_;
  std::unique_ptr<DeltaApplier> applier_;
};

}  // namespace tether::sync

#endif  // TETHER_SYNC_REVISION_BUILDER_H_
