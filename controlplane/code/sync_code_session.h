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

namespace tether {

struct SyncLimits {
  /// What a manifest may hold (sync/tree.h has the defaults).
  TreeLimits tree;
  /// Largest chunk accepted. Senders use 1 MiB; 4 MiB is gRPC's default
  /// message cap, so this only bites with a raised cap.
  size_t max_chunk_bytes = size_t{4} << 20;
};

/// One SyncCode stream. Protocol:
///   1. `manifest`: validated (INVALID_ARGUMENT naming the path) and answered
///      with `missing`, the distinct digests the store lacks, in tree order.
///   2. `chunk`s: every missing blob, one blob after another, each in order
///      from offset 0 (a zero-length blob as one empty chunk). A blob is
///      verified and published when its manifest size is reached.
///      INVALID_ARGUMENT for a digest not asked for or already received, a
///      wrong offset, a blob started before the previous one ended, bytes
///      past the blob's size, or a chunk over `max_chunk_bytes`; DATA_LOSS
///      when a blob's bytes do not match its digest.
///   3. `commit`: FAILED_PRECONDITION naming the first path whose blob is
///      incomplete; otherwise stores the tree and answers `result`.
/// A message in the wrong phase is FAILED_PRECONDITION; so is every message
/// after an error or after `result`. Store errors pass through.
///
/// Destroying the session mid-way discards the blob in progress; blobs
/// already verified stay (content-addressed, so they are harmless and make
/// a retry cheaper).
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
    bool received = false;
  };

  absl::StatusOr<std::optional<tether::v1::SyncCodeResponse>> OnManifest(
      const tether::v1::Tree& manifest);
  absl::Status OnChunk(const tether::v1::BlobChunk& chunk);
  absl::StatusOr<std::optional<tether::v1::SyncCodeResponse>> OnCommit();

  CodeStore* const store_;
  const SyncLimits limits_;
  Phase phase_ = Phase::kManifest;
  tether::v1::Tree manifest_;
  // Missing blobs by digest, and their digests in the order announced.
  absl::flat_hash_map<std::string, PendingBlob> pending_;
  std::vector<std::string> missing_order_;
  // The blob being received, if any.
  std::string current_sha256_;
  std::unique_ptr<BlobWriter> writer_;
  uint64_t files_received_ = 0;
  uint64_t bytes_received_ = 0;
};

}  // namespace tether

#endif  // TETHER_CONTROLPLANE_CODE_SYNC_CODE_SESSION_H_
