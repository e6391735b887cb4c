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

namespace tether {

/// Streams one revision: the tree first, then every distinct blob of the
/// tree that the request's `have` does not list, each as chunks of at most
/// `max_chunk_bytes` in offset order (a zero-length blob as one empty
/// chunk). Holds one chunk in memory at a time.
///
/// Not thread-safe: one stream drives it. `store` must outlive it.
class PullCodeSession {
 public:
  static constexpr size_t kDefaultChunkBytes = size_t{1} << 20;

  PullCodeSession(const CodeStore* store, tether::v1::PullCodeRequest request,
                  size_t max_chunk_bytes = kDefaultChunkBytes);
  PullCodeSession(const PullCodeSession&) = delete;
  PullCodeSession& operator=(const PullCodeSession&) = delete;
  ~PullCodeSession();

  /// Loads the tree. INVALID_ARGUMENT for a malformed revision id or a
  /// `have` digest that is not 32 bytes; NOT_FOUND for an unknown revision.
  absl::Status Start();

  /// Fills `*out` with the next message and returns true, or returns false
  /// when the revision was sent whole. FAILED_PRECONDITION before a
  /// successful Start; DATA_LOSS when a stored blob is missing or its size
  /// disagrees with the tree; store errors pass through. After an error the
  /// stream must end.
  absl::StatusOr<bool> Next(tether::v1::PullCodeResponse* out);

 private:
  struct Blob {
    std::string sha256;
    uint64_t size = 0;
  };

  const CodeStore* const store_;
  const tether::v1::PullCodeRequest request_;
  const size_t max_chunk_bytes_;
  bool started_ = false;
  bool tree_sent_ = false;
  tether::v1::Tree tree_;
  std::vector<Blob> blobs_;
  size_t next_blob_ = 0;
  // The blob being sent and how far.
  std::unique_ptr<BlobReader> reader_;
  uint64_t offset_ = 0;
};

}  // namespace tether

#endif  // TETHER_CONTROLPLANE_CODE_PULL_CODE_SESSION_H_
