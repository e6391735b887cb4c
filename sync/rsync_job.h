#ifndef TETHER_SYNC_RSYNC_JOB_H_
#define TETHER_SYNC_RSYNC_JOB_H_

// Drives one librsync job (signature, loadsig, delta or patch) through
// rs_job_iter with fixed buffers, so callers stream any amount of data with
// bounded memory. Internal to sync/: signature.h, delta_encoder.h and
// delta_applier.h are the interfaces.

#include <librsync.h>

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tether::sync {

/// Receives output bytes; a non-OK status stops the job and is returned.
using ByteSink = std::function<absl::Status(absl::string_view)>;

/// Owns an rs_job_t. Not thread-safe; distinct jobs may run on distinct
/// threads.
class RsyncJob {
 public:
  /// Bytes of output produced per rs_job_iter call at most.
  static constexpr size_t kOutBufferBytes = size_t{256} << 10;

  /// Takes ownership of `job` (from rs_*_begin); `what` names it in errors.
  RsyncJob(rs_job_t* job, absl::string_view what);
  RsyncJob(const RsyncJob&) = delete;
  RsyncJob& operator=(const RsyncJob&) = delete;
  ~RsyncJob();

  /// Feeds `input` (all of it is consumed) and passes output to `sink` in
  /// pieces of at most kOutBufferBytes. With `eof`, runs the job to its end.
  /// Errors: `corrupt_code` (e.g. DATA_LOSS for a patch, INVALID_ARGUMENT
  /// for a signature) with librsync's reason when the job fails, the sink's
  /// status, FAILED_PRECONDITION after the job ended or failed.
  absl::Status Feed(absl::string_view input, bool eof, const ByteSink& sink,
                    absl::StatusCode corrupt_code);

  bool done() const { return done_; }

  /// The buffers of the rs_job_iter call in progress: copy callbacks use
  /// them to bound what they return (see DeltaApplier).
  const rs_buffers_t& buffers() const { return buffers_; }

  /// Routes librsync's log lines away from stderr into the last-error text
  /// used in statuses. Idempotent; RsyncJob calls it.
  static void QuietLibrsync();

 private:
  rs_job_t* job_;
  const std::string what_;
  rs_buffers_t buffers_{};
  std::string out_;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace tether::sync

#endif  // TETHER_SYNC_RSYNC_JOB_H_
