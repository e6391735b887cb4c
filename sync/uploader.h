#ifndef TETHER_SYNC_UPLOADER_H_
#define TETHER_SYNC_UPLOADER_H_

// The CLI side of ControlPlane.SyncCode: turn a working directory into a
// stored revision, sending only the blobs tetherd lacks.
//
// With the index cache (sync/index_cache.h, on by default), a warm sync
// reads only the files whose stat data changed, describes the tree as a
// ManifestDiff against the revision the last sync stored, and sends each
// changed file as a librsync delta against its previous version (or, when
// the file only grew, as "copy the old bytes + the new tail" without any
// block matching). First syncs, unknown bases and files without a known
// previous version fall back to the full manifest and literal bytes.

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

namespace tether::sync {

struct UploadOptions {
  ScanOptions scan;
  /// Adds metadata (authorization) and a deadline to the call; may be empty.
  std::function<void(grpc::ClientContext&)> decorate;
  /// Bytes per chunk message. tetherd accepts up to 4 MiB (gRPC's default
  /// message cap); 1 MiB keeps memory low and flow control smooth.
  size_t chunk_bytes = size_t{1} << 20;
  /// Whether UploadTree uses and updates the index cache.
  bool use_cache = true;
  /// Directory of the index cache; empty: IndexCache::DefaultDir() (no
  /// cache when that is empty too). Tests point it at a temp dir.
  std::string cache_dir;
  /// tetherd's address, part of the cache key so syncs of one directory to
  /// different tetherds keep separate bases. Empty is a key like any other;
  /// a wrong base only costs a retry with the full manifest.
  std::string endpoint;
};

struct UploadResult {
  /// tetherd's answer: the revision id and what it received.
  tether::v1::SyncResult result;
  /// File entries in the tree.
  uint64_t files = 0;
  /// Distinct blobs sent (what tetherd lacked).
  uint64_t blobs_sent = 0;
  /// How many of `blobs_sent` went as deltas.
  uint64_t deltas_sent = 0;
  /// Whether tetherd took the tree as a ManifestDiff (no full manifest).
  bool manifest_diff = false;
  /// Wire size: sum of ByteSizeLong() of the messages sent / received.
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

/// Scans `root` (reading only files the index cache cannot vouch for) and
/// syncs it; updates the cache after success (a cache write error is only
/// logged). Errors as UploadScannedTree, plus ScanTree's. A diff tetherd
/// rejects (unknown base: NOT_FOUND; INVALID_ARGUMENT) is retried once
/// with the full manifest. Thread-safe (the cache file is replaced
/// atomically; concurrent syncs of one root just race to write it).
absl::StatusOr<UploadResult> UploadTree(
    tether::v1::ControlPlane::StubInterface& stub, const std::string& root,
    const UploadOptions& options);

/// Syncs a tree already scanned from `root`, without the index cache:
/// sends the manifest, streams each blob tetherd asks for from
/// `root + "/" + path` in `chunk_bytes` chunks (one chunk in memory at a
/// time), commits. Errors: INVALID_ARGUMENT from ValidateTree, ABORTED when
/// a file changed since it was scanned (scan again), INTERNAL when tetherd
/// breaks the protocol, otherwise the RPC's status (INVALID_ARGUMENT,
/// DATA_LOSS, UNAUTHENTICATED, ...). Thread-safe (no shared state).
absl::StatusOr<UploadResult> UploadScannedTree(
    tether::v1::ControlPlane::StubInterface& stub, const std::string& root,
    const tether::v1::Tree& tree, const UploadOptions& options);

}  // namespace tether::sync

#endif  // TETHER_SYNC_UPLOADER_H_
