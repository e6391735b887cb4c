#ifndef TETHER_CONTROLPLANE_CODE_CODE_STORE_H_
#define TETHER_CONTROLPLANE_CODE_CODE_STORE_H_

// tetherd's content-addressed store of code revisions: blobs keyed by the
// SHA-256 of their bytes, and trees keyed by revision id (sync/tree.h).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "tether/v1/code.pb.h"

namespace tether::controlplane {

/// Receives one blob. Dropping it before a successful Commit discards
/// everything written: no partial blob ever becomes visible.
/// Not thread-safe: one writer serves one stream.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;

  /// Appends bytes. Errors come from the storage (e.g. RESOURCE_EXHAUSTED
  /// for a full disk); the writer is then unusable.
  virtual absl::Status Append(absl::string_view data) = 0;

  /// Bytes appended so far.
  virtual uint64_t size() const = 0;

  /// Checks the bytes against the digest the writer was opened for and
  /// publishes the blob atomically. DATA_LOSS on mismatch, and then nothing
  /// is published. Committing a blob that already exists is OK.
  /// Call at most once.
  virtual absl::Status Commit() = 0;

  /// Like Commit, but only checks the bytes and sets them aside: the blob
  /// becomes visible (and durable) when the writer is passed to
  /// CodeStore::PublishBlobs, and is discarded if the writer is dropped
  /// instead. A sync of thousands of files then costs a couple of
  /// filesystem flushes instead of an fsync per file. DATA_LOSS on
  /// mismatch. Call at most once, instead of Commit.
  virtual absl::Status Stage() = 0;
};

/// Sequential reads of one stored blob. Not thread-safe.
class BlobReader {
 public:
  virtual ~BlobReader() = default;

  /// Size of the blob.
  virtual uint64_t size() const = 0;

  /// Replaces `*out` with up to `max_bytes` from the current position and
  /// advances; `*out` is empty at the end.
  virtual absl::Status Read(size_t max_bytes, std::string* out) = 0;

  /// Reads up to `out.size()` bytes at `offset` into `out`, independent of
  /// the sequential position (delta bases are read at random offsets).
  /// Returns how many; 0 only at or past the end.
  virtual absl::StatusOr<size_t> ReadAt(uint64_t offset,
                                        absl::Span<char> out) = 0;
};

/// Receives one piece of derived data (a delta between stored blobs).
/// Dropping it before Commit discards it. Unlike BlobWriter nothing is
/// verified or fsynced: derived data can be recomputed, and whoever applies
/// a delta checks the digest of the result. Not thread-safe.
class DerivedWriter {
 public:
  virtual ~DerivedWriter() = default;
  virtual absl::Status Append(absl::string_view data) = 0;
  virtual uint64_t size() const = 0;
  /// Publishes atomically, replacing any previous version. Call at most
  /// once.
  virtual absl::Status Commit() = 0;
};

/// What CodeStore::CollectGarbage removed.
struct GarbageStats {
  int64_t trees = 0;
  int64_t blobs = 0;
  /// Signatures and deltas.
  int64_t derived = 0;
  /// Bytes of the files removed.
  uint64_t bytes = 0;
};

/// Blob digests are the raw 32-byte SHA-256 (as in the protos); revision ids
/// are 64 lowercase hex digits. Malformed keys are INVALID_ARGUMENT.
/// Implementations are thread-safe.
///
/// Invariant kept by callers: a tree is put only after all its blobs were
/// committed, so a visible revision is always whole.
class CodeStore {
 public:
  virtual ~CodeStore() = default;

  virtual absl::StatusOr<bool> HasBlob(absl::string_view sha256) const = 0;

  /// Starts a blob whose contents must hash to `sha256`. Concurrent writers
  /// of the same blob are fine: the last Commit wins with equal bytes.
  virtual absl::StatusOr<std::unique_ptr<BlobWriter>> NewBlobWriter(
      absl::string_view sha256) = 0;

  /// Publishes blobs whose writers (from this store) were staged: each
  /// appears atomically, and all of them are durable when this returns OK.
  /// FAILED_PRECONDITION for a writer that was not staged (nothing is
  /// published then); storage errors pass through.
  virtual absl::Status PublishBlobs(
      std::vector<std::unique_ptr<BlobWriter>> staged) = 0;

  /// NOT_FOUND when the blob is not stored.
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> OpenBlob(
      absl::string_view sha256) const = 0;

  /// Stores `tree` as `revision` atomically; idempotent. INVALID_ARGUMENT
  /// when `revision` is not TreeId(tree). The tree is not validated here:
  /// callers run ValidateTree on what they accept from the wire.
  virtual absl::Status PutTree(absl::string_view revision,
                               const tether::v1::Tree& tree) = 0;

  /// NOT_FOUND for an unknown revision; DATA_LOSS for a corrupt record.
  virtual absl::StatusOr<tether::v1::Tree> GetTree(
      absl::string_view revision) const = 0;

  virtual absl::StatusOr<bool> HasRevision(
      absl::string_view revision) const = 0;

  // Derived data kept beside the blobs so agent pulls can send deltas
  // cheaply (see pull_code_session.h). Losing it costs time, not
  // correctness.

  /// The librsync signature (sync/signature.h) of a stored blob. NOT_FOUND
  /// when none is kept.
  virtual absl::StatusOr<std::string> GetSignature(
      absl::string_view sha256) const = 0;
  virtual absl::Status PutSignature(absl::string_view sha256,
                                    absl::string_view signature) = 0;

  /// Keeps the delta that turns blob `base` into blob `sha256`.
  virtual absl::StatusOr<std::unique_ptr<DerivedWriter>> NewDeltaWriter(
      absl::string_view sha256, absl::string_view base) = 0;
  /// NOT_FOUND when no such delta is kept.
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> OpenDelta(
      absl::string_view sha256, absl::string_view base) const = 0;

  /// Removes the revisions not in `keep` stored before `cutoff`, then the
  /// blobs no remaining revision holds that were stored before `cutoff`,
  /// and the derived data of blobs that are gone. A HasBlob that finds a
  /// blob counts as storing it again, so a sync that was told a blob is
  /// here can still put a tree using it: `cutoff` is the grace it gets.
  /// Safe while syncs and pulls run (callers keep the revisions agents
  /// serve, which pulls use as delta bases).
  virtual absl::StatusOr<GarbageStats> CollectGarbage(
      const absl::flat_hash_set<std::string>& keep, absl::Time cutoff) = 0;
};

/// Key checks shared by implementations: INVALID_ARGUMENT unless `sha256`
/// is 32 bytes / `revision` is a revision id / `revision` is TreeId(tree).
absl::Status CheckBlobKey(absl::string_view sha256);
absl::Status CheckRevisionKey(absl::string_view revision);
absl::Status CheckTreeMatchesRevision(absl::string_view revision,
                                      const tether::v1::Tree& tree);

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_CODE_CODE_STORE_H_
