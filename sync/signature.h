#ifndef TETHER_SYNC_SIGNATURE_H_
#define TETHER_SYNC_SIGNATURE_H_

// librsync signatures of file versions: what a sender must remember about
// the receiver's copy to compute a delta against it.
//
// Format (librsync's, magic RS_RK_BLAKE2_SIG_MAGIC): a 12-byte header
// (magic, block length, strong sum length; big-endian u32) and per block of
// the file a 4-byte Rabin-Karp weak sum and a truncated BLAKE2 strong sum.
//
// Choices (docs/DESIGN.md, "Code sync"): blocks of about sqrt(size) bytes
// rounded to a power of two within [256, 8192], so a one-line edit of a
// 4 KiB source file costs one 256-byte block and a 64 MiB file costs
// 8192 blocks (as rsync picks); 8-byte strong sums, because every receiver
// verifies the SHA-256 of what a delta produces, so a false block match can
// only fail a sync, never corrupt one. A 64 MiB file's signature is 98 KB.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sync/rsync_job.h"

namespace tether::sync {

struct SignatureParams {
  uint32_t block_len = 8192;
  uint32_t strong_len = 8;
};

/// The parameters Tether uses for a file of `size` bytes (see above).
SignatureParams SignatureParamsFor(uint64_t size);

/// What a signature's header says, and how many blocks follow.
struct SignatureInfo {
  uint32_t magic = 0;
  uint32_t block_len = 0;
  uint32_t strong_len = 0;
  uint64_t blocks = 0;
};

/// Parses and checks a signature's framing: INVALID_ARGUMENT for a short or
/// ragged signature, another magic, or an implausible block or sum length.
absl::StatusOr<SignatureInfo> ParseSignature(absl::string_view signature);

/// Computes a signature incrementally; memory is the signature itself
/// (12 bytes per block) plus librsync's one-block buffers.
/// Not thread-safe.
class SignatureBuilder {
 public:
  explicit SignatureBuilder(SignatureParams params);

  /// Adds the next bytes of the file.
  absl::Status Update(absl::string_view data);
  /// Returns the signature; the builder is spent.
  absl::StatusOr<std::string> Finish();

 private:
  RsyncJob job_;
  std::string signature_;
};

/// Signature of a whole buffer (tests, small files).
absl::StatusOr<std::string> SignatureOf(absl::string_view data,
                                        SignatureParams params);

/// The signature of a file that grew from `old_size` bytes by appending,
/// from the old signature and `tail`, the signature (same parameters) of
/// the new file's bytes from AppendTailStart(old signature, old_size) on:
/// the old file's full blocks are unchanged, so their sums are kept.
/// INVALID_ARGUMENT when the signatures do not fit together.
absl::StatusOr<std::string> AppendSignature(absl::string_view old_signature,
                                            uint64_t old_size,
                                            absl::string_view tail);

/// Where the tail signature for AppendSignature starts: the old file's
/// last full block boundary.
uint64_t AppendTailStart(uint32_t block_len, uint64_t old_size);

}  // namespace tether::sync

#endif  // TETHER_SYNC_SIGNATURE_H_
