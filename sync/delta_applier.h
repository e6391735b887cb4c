#ifndef TETHER_SYNC_DELTA_APPLIER_H_
#define TETHER_SYNC_DELTA_APPLIER_H_

// Applying a librsync delta as its bytes arrive, against a base read at
// random offsets (a file or a stored blob), writing the result to a sink.
// Used by tetherd (deltas from the CLI) and agents (deltas from tetherd);
// fuzzed by sync/fuzz.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "sync/rsync_job.h"

namespace tether::sync {

/// Random-access reads of the version a delta applies to.
class DeltaBasis {
 public:
  virtual ~DeltaBasis() = default;
  /// Size of the base in bytes.
  virtual uint64_t size() const = 0;
  /// Reads up to `out.size()` bytes at `offset` (< size()) into `out`;
  /// returns how many (> 0 unless out is empty).
  virtual absl::StatusOr<size_t> ReadAt(uint64_t offset,
                                        absl::Span<char> out) = 0;
};

/// A DeltaBasis over an open file descriptor (pread); does not own it.
/// Thread-compatible.
class FdBasis final : public DeltaBasis {
 public:
  /// `size` is the file's size; `path` names it in errors.
  FdBasis(int fd, uint64_t size, std::string path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  uint64_t size() const override { return size_; }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, absl::Span<char> out) override;

 private:
  const int fd_;
  const uint64_t size_;
  const std::string path_;
};

/// Patches incrementally: memory is librsync's command buffer and one
/// output buffer (RsyncJob::kOutBufferBytes), whatever the sizes involved.
///
/// Hostile deltas are expected: a delta that is malformed, copies outside
/// the base, or would produce more than `max_output` bytes fails with
/// DATA_LOSS as soon as that shows, before writing past the limit. The
/// caller still checks the result's SHA-256 (a well-formed delta can
/// produce the wrong bytes). Not thread-safe.
class DeltaApplier {
 public:
  /// `basis` must outlive the applier; `sink` receives the result in order.
  DeltaApplier(DeltaBasis* basis, uint64_t max_output, ByteSink sink);

  /// Feeds the next delta bytes. DATA_LOSS for a corrupt delta; the
  /// basis's and the sink's errors pass through.
  absl::Status Update(absl::string_view delta);
  /// The delta ended: DATA_LOSS unless it was complete (END command seen).
  absl::Status Finish();

  /// Result bytes produced so far.
  uint64_t output_size() const { return output_size_; }

 private:
  static rs_result CopyCallback(void* opaque, rs_long_t pos, size_t* len,
                                void** buf);
  absl::Status Run(absl::string_view delta, bool eof);

  DeltaBasis* const basis_;
  const uint64_t max_output_;
  const ByteSink sink_;
  RsyncJob job_;
  uint64_t output_size_ = 0;
  // Why the copy callback failed; librsync only sees an rs_result.
  absl::Status callback_status_;
};

}  // namespace tether::sync

#endif  // TETHER_SYNC_DELTA_APPLIER_H_
