#include "sync/rsync_job.h"

#include <mutex>

#include "absl/strings/str_cat.h"

namespace tether::sync {
namespace {

// librsync reports why a job failed only through its log callback; keep the
// last error line per thread so statuses can carry it.
thread_local std::string last_librsync_error;

void CaptureLog(rs_loglevel level, const char* message) {
  // The first line says why; librsync then adds "job failed".
  if (level <= RS_LOG_ERR && last_librsync_error.empty()) {
    last_librsync_error = message;
  }
}

}  // namespace

void RsyncJob::QuietLibrsync() {
  static std::once_flag once;
  std::call_once(once, [] {
    rs_trace_set_level(RS_LOG_ERR);
    rs_trace_to(&CaptureLog);
  });
}

RsyncJob::RsyncJob(rs_job_t* job, absl::string_view what)
    : job_(job), what_(what), out_(kOutBufferBytes, '\0') {
  QuietLibrsync();
}

RsyncJob::~RsyncJob() {
  if (job_ != nullptr) rs_job_free(job_);
}

absl::Status RsyncJob::Feed(absl::string_view input, bool eof,
                            const ByteSink& sink,
                            absl::StatusCode corrupt_code) {
  if (job_ == nullptr) {
    return absl::InternalError(absl::StrCat("librsync ", what_, " job: null"));
  }
  if (failed_) {
    return absl::FailedPreconditionError(
        absl::StrCat("librsync ", what_, " job already failed"));
  }
  if (done_) {
    if (input.empty()) return absl::OkStatus();
    return absl::Status(corrupt_code,
                        absl::StrCat(what_, ": data after the end"));
  }
  // librsync takes a non-const pointer but does not write through next_in.
  buffers_.next_in = const_cast<char*>(input.data());
  buffers_.avail_in = input.size();
  buffers_.eof_in = eof ? 1 : 0;
  while (true) {
    buffers_.next_out = out_.data();
    buffers_.avail_out = out_.size();
    const size_t in_before = buffers_.avail_in;
    last_librsync_error.clear();
    const rs_result result = rs_job_iter(job_, &buffers_);
    const size_t produced = out_.size() - buffers_.avail_out;
    if (produced > 0) {
      absl::Status status = sink(absl::string_view(out_.data(), produced));
      if (!status.ok()) {
        failed_ = true;
        return status;
      }
    }
    if (result == RS_DONE) {
      done_ = true;
      if (buffers_.avail_in > 0) {
        failed_ = true;
        return absl::Status(corrupt_code,
                            absl::StrCat(what_, ": data after the end"));
      }
      return absl::OkStatus();
    }
    if (result != RS_BLOCKED) {
      failed_ = true;
      std::string reason =
          last_librsync_error.empty()
              ? std::string(rs_strerror(result))
              : absl::StrCat(rs_strerror(result), ": ", last_librsync_error);
      // A callback (e.g. a failed basis read) may have stored a better
      // status; callers check theirs first.
      return absl::Status(corrupt_code, absl::StrCat(what_, ": ", reason));
    }
    const bool progress = produced > 0 || buffers_.avail_in < in_before;
    if (!progress) {
      if (buffers_.avail_in == 0 && !eof) return absl::OkStatus();
      failed_ = true;
      return absl::Status(corrupt_code,
                          absl::StrCat(what_, eof ? ": input ended early"
                                                  : ": job made no progress"));
    }
    // All input taken and output not full: the job waits for more input.
    if (buffers_.avail_in == 0 && !eof && produced < out_.size()) {
      return absl::OkStatus();
    }
  }
}

}  // namespace tether::sync
