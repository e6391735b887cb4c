#include "sync/delta_applier.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace tether::sync {

absl::StatusOr<size_t> FdBasis::ReadAt(uint64_t offset, absl::Span<char> out) {
  while (true) {
    const ssize_t n =
        pread(fd_, out.data(), out.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "read", path_);
    if (n == 0 && !out.empty()) {
      return absl::DataLossError(
          absl::StrCat(path_, " is shorter than ", size_, " bytes"));
    }
    return static_cast<size_t>(n);
  }
}

DeltaApplier::DeltaApplier(DeltaBasis* basis, uint64_t max_output,
                           ByteSink sink)
    : basis_(basis),
      max_output_(max_output),
      sink_(std::move(sink)),
      job_(rs_patch_begin(&DeltaApplier::CopyCallback, this), "delta") {}

rs_result DeltaApplier::CopyCallback(void* opaque, rs_long_t pos, size_t* len,
                                     void** buf) {
  auto* self = static_cast<DeltaApplier*>(opaque);
  // librsync asks for at most the free output space, but keeps a COPY's
  // length in an int: a hostile length can wrap, so never trust `*len`
  // beyond the buffer librsync handed us.
  const size_t room = self->job_.buffers().avail_out;
  const uint64_t base_size = self->basis_->size();
  if (pos < 0 || static_cast<uint64_t>(pos) >= base_size || *len == 0 ||
      room == 0) {
    self->callback_status_ = absl::DataLossError(absl::StrCat(
        "delta copies from offset ", pos, " of a ", base_size, "-byte base"));
    return RS_CORRUPT;
  }
  const size_t want = static_cast<size_t>(
      std::min<uint64_t>({*len, room, base_size - static_cast<uint64_t>(pos)}));
  absl::StatusOr<size_t> got =
      self->basis_->ReadAt(static_cast<uint64_t>(pos),
                           absl::Span<char>(static_cast<char*>(*buf), want));
  if (!got.ok()) {
    self->callback_status_ = got.status();
    return RS_IO_ERROR;
  }
  *len = *got;
  return RS_DONE;
}

absl::Status DeltaApplier::Run(absl::string_view delta, bool eof) {
  absl::Status status = job_.Feed(
      delta, eof,
      [this](absl::string_view out) -> absl::Status {
        if (out.size() > max_output_ - output_size_) {
          return absl::DataLossError(absl::StrCat(
              "delta produces more than the expected ", max_output_, " bytes"));
        }
        output_size_ += out.size();
        return sink_(out);
      },
      absl::StatusCode::kDataLoss);
  if (!status.ok() && !callback_status_.ok()) return callback_status_;
  return status;
}

absl::Status DeltaApplier::Update(absl::string_view delta) {
  return Run(delta, /*eof=*/false);
}

absl::Status DeltaApplier::Finish() {
  RETURN_IF_ERROR(Run("", /*eof=*/true));
  if (!job_.done()) return absl::DataLossError("delta ended early");
  return absl::OkStatus();
}

}  // namespace tether::sync
