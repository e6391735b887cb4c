#ifndef TETHER_CONTROLPLANE_CODE_SYNC_CODE_SESSION_H_
#define TETHER_CONTROLPLANE_CODE_SYNC_CODE_SESSION_H_

// The server side of ControlPlane.SyncCode as a plain state machine, so the
// RPC reactor only moves messages and tests drive it directly.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controlplane/code/code_store.h"
#include "sync/tree.h"
#include "tether/v1/code.pb.h"

namespace tether::sync {
class DeltaApplier;
class DeltaBasis;
}  // namespace tether::sync

namespace tether::controlplane {

struct SyncLimits {
  /// What a manifest may hold (sync/tree.h has the defaults).
  sync::TreeLimits tree;
  /// Largest chunk or delta slice accepted. Senders use 1 MiB; 4 MiB is
  /// gRPC's default message cap, so this only bites with a raised cap.
  size_t max_chunk_bytes = size_t{4} << 20;
  /// Keep the deltas received (when smaller than their blob), so agents
  /// that hold the base get the same delta without tetherd computing one.
  bool keep_deltas = true;
};

/// One SyncCode stream. Protocol:
///   1. The tree, as `manifest` (validated: INVALID_ARGUMENT naming the
///      path) or as `manifest_diff` against a stored revision (NOT_FOUND
///      when the base is unknown, so the client resends the full manifest;
///      INVALID_ARGUMENT when the diff is malformed, its result is not a
///      valid tree or does not hash to the claimed revision). Answered with
///      `missing`: the distinct digests the store lacks, in tree order, and
///      for a diff the delta base of each (the base revision's blob at the
///      same path, when there is one).
///   2. Every missing blob, one after another, either as `chunk`s in order
///      from offset 0 (a zero-length blob as one empty chunk), verified and
///      published when its size is reached, or, when a base was named, as
///      `delta` slices in order from offset 0, the last one flagged,
///      patched against the stored base as they arrive and verified at the
///      last. INVALID_ARGUMENT for a digest not asked for or already
///      received, a delta against another base, a wrong offset, a blob
///      started before the previous one ended, chunks and slices mixed,
///      bytes past the blob's size, or a message over `max_chunk_bytes`;
///      DATA_LOSS when a blob's bytes do not match its digest or a delta is
///      corrupt (nothing of that blob is stored).
///   3. `commit`: FAILED_PRECONDITION naming the first path whose blob is
///      incomplete; otherwise publishes the blobs (verified blobs wait
///      staged until then, so a sync of thousands of files costs a couple
///      of filesystem flushes, not an fsync each), stores the tree and
///      answers `result`.
/// A message in the wrong phase is FAILED_PRECONDITION; so is every message
/// after an error or after `result`. Store errors pass through.
///
/// A diff costs O(base entries) to rebuild and check the tree, but only the
/// blobs of changed entries are looked up: a stored revision's blobs are all
/// stored (the CodeStore invariant).
///
/// Destroying the session before the commit discards what it received.
///
/// Not thread-safe: one stream drives it. `store` must outlive it.
class SyncCodeSession {
 public:
  SyncCodeSession(CodeStore* store, SyncLimits limits);
  SyncCodeSession(const SyncCodeSession&) = delete;
  SyncCodeSession& operator=(const SyncCodeSession&) = delete;
  ~SyncCodeSession();

  /// Handles one request; returns the response to send, if any.
  absl::StatusOr<std::optional<tether::v1::SyncCodeResponse>> OnRequest(
      const tether::v1::SyncCodeRequest& request);

  /// True once `result` was produced.
  bool done() const { return phase_ == Phase::kDone; }

 private:
  enum class Phase { kManifest, kBlobs, kDone, kFailed };

  struct PendingBlob {
    uint64_t size = 0;
    // First path with this digest, for error messages.
    std::string path;
    // Stored blob a delta may apply to; empty: only literal bytes.
    std::string delta_base;
    bool received = false;
  };

  absl::StatusOr<std::optional<tether::v1::SyncCodeResponse>> OnManifest(
      const tether::v1::Tree& manifest);
  absl::StatusOr<std::optional<tether::v1::SyncCodeResponse>> OnManifestDiff(
      const tether::v1::ManifestDiff& diff);
  // Records `entry`'s blob as missing unless stored or already listed.
  absl::Status AddIfMissing(const tether::v1::TreeEntry& entry,
                            std::string delta_base);
  tether::v1::SyncCodeResponse MissingResponse(bool with_bases) const;
  absl::Status OnChunk(const tether::v1::BlobChunk& chunk);
  absl::Status OnDelta(const tether::v1::DeltaChunk& delta);
  absl::Status StartDelta(const tether::v1::DeltaChunk& delta,
                          const PendingBlob& blob);
  absl::Status CommitBlob(PendingBlob& blob);
  absl::StatusOr<std::optional<tether::v1::SyncCodeResponse>> OnCommit();
  void DiscardBlob();

  CodeStore* const store_;
  const SyncLimits limits_;
  Phase phase_ = Phase::kManifest;
  tether::v1::Tree manifest_;
  // Missing blobs by digest, and their digests in the order announced.
  absl::flat_hash_map<std::string, PendingBlob> pending_;
  std::vector<std::string> missing_order_;
  // The blob being received, if any; a delta also has the objects below.
  std::string current_sha256_;
  std::unique_ptr<BlobWriter> writer_;
  bool current_is_delta_ = false;
  uint64_t delta_offset_ = 0;
  std::unique_ptr<BlobReader> base_reader_;
  std::unique_ptr<sync::DeltaBasis> basis_;
  std::unique_ptr<sync::DeltaApplier> applier_;
  std::unique_ptr<DerivedWriter> kept_delta_;
  // Verified blobs waiting for the commit.
  std::vector<std::unique_ptr<BlobWriter>> staged_;
  uint64_t files_received_ = 0;
  uint64_t bytes_received_ = 0;
  uint64_t deltas_received_ = 0;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_CODE_SYNC_CODE_SESSION_H_
