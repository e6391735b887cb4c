#ifndef TETHER_CONTROLPLANE_CODE_PULL_CODE_SESSION_H_
#define TETHER_CONTROLPLANE_CODE_PULL_CODE_SESSION_H_

// The server side of AgentGateway.PullCode as a pull-style iterator, so the
// RPC reactor writes one message at a time under flow control.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controlplane/code/code_store.h"
#include "tether/v1/agent.pb.h"
#include "tether/v1/code.pb.h"

namespace tether::sync {
class DeltaEncoder;
}  // namespace tether::sync

namespace tether::controlplane {

/// Streams one revision: the tree first (as a ManifestDiff against the
/// request's `base_revision` when the store has it, so a one-file change
/// costs one entry), then every distinct blob of the tree that the
/// request's `have` does not list (with `have_base`, the base revision's
/// blobs count as listed). A blob whose first path
/// holds another blob in the request's `base_revision`, with that blob in
/// `have`, goes as a delta against it: the delta kept from the CLI's sync
/// when there is one (and it is smaller than the blob), otherwise one
/// computed here from the base's signature (computed once and kept in the
/// store). Other blobs go as chunks. Chunks and delta slices are at most
/// `max_chunk_bytes` each, in offset order (a zero-length blob as one empty
/// chunk). Holds about two slices in memory at a time.
///
/// Not thread-safe: one stream drives it. `store` must outlive it.
class PullCodeSession {
 public:
  static constexpr size_t kDefaultChunkBytes = size_t{1} << 20;

  PullCodeSession(CodeStore* store, tether::v1::PullCodeRequest request,
                  size_t max_chunk_bytes = kDefaultChunkBytes);
  PullCodeSession(const PullCodeSession&) = delete;
  PullCodeSession& operator=(const PullCodeSession&) = delete;
  ~PullCodeSession();

  /// Loads the tree. INVALID_ARGUMENT for a malformed revision id or a
  /// `have` digest that is not 32 bytes; NOT_FOUND for an unknown revision.
  /// An unknown or malformed `base_revision` only means no deltas.
  absl::Status Start();

  /// Fills `*out` with the next message and returns true, or returns false
  /// when the revision was sent whole. FAILED_PRECONDITION before a
  /// successful Start; DATA_LOSS when a stored blob is missing or its size
  /// disagrees with the tree; store errors pass through. After an error the
  /// stream must end.
  absl::StatusOr<bool> Next(tether::v1::PullCodeResponse* out);

  /// Blobs sent as deltas so far (of which kept from the CLI's sync).
  int deltas() const { return deltas_; }
  int kept_deltas() const { return kept_deltas_; }

 private:
  struct Blob {
    std::string sha256;
    uint64_t size = 0;
    // Blob the agent holds at the same path; empty: send chunks.
    std::string delta_base;
  };

  absl::StatusOr<std::unique_ptr<BlobReader>> OpenStoredBlob(
      const Blob& blob) const;
  absl::StatusOr<std::string> BaseSignature(const std::string& base);
  absl::Status StartDelta(const Blob& blob);
  absl::StatusOr<bool> NextChunk(const Blob& blob,
                                 tether::v1::PullCodeResponse* out);
  absl::StatusOr<bool> NextDelta(const Blob& blob,
                                 tether::v1::PullCodeResponse* out);
  void EndBlob();

  CodeStore* const store_;
  const tether::v1::PullCodeRequest request_;
  const size_t max_chunk_bytes_;
  bool started_ = false;
  bool tree_sent_ = false;
  tether::v1::Tree tree_;
  // The agent's revision, when known: the tree goes as a diff against it.
  std::string base_revision_;
  tether::v1::Tree base_tree_;
  std::vector<Blob> blobs_;
  size_t next_blob_ = 0;
  // The blob being sent and how far (in the blob, or in its delta).
  std::unique_ptr<BlobReader> reader_;
  uint64_t offset_ = 0;
  // A delta in progress: kept (read from `reader_`) or computed (`reader_`
  // reads the blob, `encoder_` turns it into `pending_` delta bytes).
  bool delta_started_ = false;
  std::unique_ptr<sync::DeltaEncoder> encoder_;
  bool input_done_ = false;
  std::string pending_;
  int deltas_ = 0;
  int kept_deltas_ = 0;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_CODE_PULL_CODE_SESSION_H_
