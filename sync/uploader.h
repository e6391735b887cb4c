#ifndef TETHER_SYNC_UPLOADER_H_
#define TETHER_SYNC_UPLOADER_H_

// The CLI side of ControlPlane.SyncCode: turn a working directory into a
// stored revision, sending only the blobs tetherd lacks.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "sync/tree.h"
#include "tether/v1/code.pb.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace tether {

struct UploadOptions {
  ScanOptions scan;
  /// Adds metadata (authorization) and a deadline to the call; may be empty.
  std::function<void(grpc::ClientContext&)> decorate;
  /// Bytes per chunk message. tetherd accepts up to 4 MiB (gRPC's default
  /// message cap); 1 MiB keeps memory low and flow control smooth.
  size_t chunk_bytes = size_t{1} << 20;
};

struct UploadResult {
  /// tetherd's answer: the revision id and what it received.
  tether::v1::SyncResult result;
  /// File entries in the tree.
  uint64_t files = 0;
  /// Distinct blobs sent (what tetherd lacked).
  uint64_t blobs_sent = 0;
  /// Wire size: sum of ByteSizeLong() of the messages sent / received.
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

/// ScanTree(root) then UploadScannedTree.
absl::StatusOr<UploadResult> UploadTree(
    tether::v1::ControlPlane::StubInterface& stub, const std::string& root,
    const UploadOptions& options);

/// Syncs a tree already scanned from `root` (the seam for an index cache):
/// sends the manifest, streams each blob tetherd asks for from
/// `root + "/" + path` in `chunk_bytes` chunks (one chunk in memory at a
/// time), commits. Errors: INVALID_ARGUMENT from ValidateTree, ABORTED when
/// a file changed since it was scanned (scan again), INTERNAL when tetherd
/// breaks the protocol, otherwise the RPC's status (INVALID_ARGUMENT,
/// DATA_LOSS, UNAUTHENTICATED, ...). Thread-safe (no shared state).
absl::StatusOr<UploadResult> UploadScannedTree(
    tether::v1::ControlPlane::StubInterface& stub, const std::string& root,
    const tether::v1::Tree& tree, const UploadOptions& options);

}  // namespace tether

#endif  // TETHER_SYNC_UPLOADER_H_
