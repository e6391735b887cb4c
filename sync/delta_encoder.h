#ifndef TETHER_SYNC_DELTA_ENCODER_H_
#define TETHER_SYNC_DELTA_ENCODER_H_

// Computing librsync deltas on the sending side: against a signature of
// the receiver's version (DeltaEncoder), or written directly when the new
// version is the old one plus appended bytes (the *Command helpers), which
// costs no block matching at all.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sync/rsync_job.h"

struct rs_signature;

namespace tether::sync {

/// Streams a delta from the new version's bytes against a loaded signature
/// (sync/signature.h) of the base. Memory: the signature's hash table plus
/// librsync's few-block window, whatever the file size. Not thread-safe.
class DeltaEncoder {
 public:
  /// INVALID_ARGUMENT for a malformed signature.
  static absl::StatusOr<std::unique_ptr<DeltaEncoder>> Create(
      absl::string_view signature);
  DeltaEncoder(const DeltaEncoder&) = delete;
  DeltaEncoder& operator=(const DeltaEncoder&) = delete;
  ~DeltaEncoder();

  /// Feeds the next bytes of the new version; delta bytes go to `sink` as
  /// librsync produces them (it holds back at most a few blocks).
  absl::Status Update(absl::string_view data, const ByteSink& sink);
  /// Ends the input and flushes the rest of the delta to `sink`.
  absl::Status Finish(const ByteSink& sink);

 private:
  explicit DeltaEncoder(rs_signature* signature);

  rs_signature* signature_;
  std::unique_ptr<RsyncJob> job_;
};

/// Delta format pieces, for deltas written without librsync's matcher.
/// A delta is DeltaHeader(), commands, DeltaEnd().
std::string DeltaHeader();
/// Copies `length` bytes of the base from `offset` (split into commands of
/// at most 1 GiB, which librsync's patcher handles).
std::string CopyCommand(uint64_t offset, uint64_t length);
/// Introduces `length` literal bytes, which follow it in the stream.
std::string LiteralHeader(uint64_t length);
std::string DeltaEnd();

}  // namespace tether::sync

#endif  // TETHER_SYNC_DELTA_ENCODER_H_
