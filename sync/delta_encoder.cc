#include "sync/delta_encoder.h"

#include <librsync.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "sync/signature.h"

namespace tether::sync {
namespace {

// librsync's opcodes (prototab.h, not installed).
constexpr unsigned char kOpEnd = 0x00;
constexpr unsigned char kOpLiteralN1 = 0x41;
constexpr unsigned char kOpCopyN1N1 = 0x45;
// librsync's patcher keeps a copy length in an int.
constexpr uint64_t kMaxCopyBytes = uint64_t{1} << 30;

int IntLen(uint64_t value) {
  if (value <= 0xFF) return 1;
  if (value <= 0xFFFF) return 2;
  if (value <= 0xFFFFFFFF) return 4;
  return 8;
}

// 1, 2, 4, 8 -> 0, 1, 2, 3.
int LenIndex(int len) { return len == 1 ? 0 : len == 2 ? 1 : len == 4 ? 2 : 3; }

void PutInt(uint64_t value, int len, std::string* out) {
  for (int i = len - 1; i >= 0; --i) {
    out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<DeltaEncoder>> DeltaEncoder::Create(
    absl::string_view signature) {
  // Our own framing check first: librsync accepts any length.
  RETURN_IF_ERROR(ParseSignature(signature).status());
  rs_signature_t* loaded = nullptr;
  RsyncJob load(rs_loadsig_begin(&loaded), "signature load");
  absl::Status status = load.Feed(
      signature, /*eof=*/true,
      [](absl::string_view) { return absl::OkStatus(); },
      absl::StatusCode::kInvalidArgument);
  std::unique_ptr<DeltaEncoder> encoder(new DeltaEncoder(loaded));
  if (!status.ok()) return status;
  if (rs_build_hash_table(loaded) != RS_DONE) {
    return absl::ResourceExhaustedError("cannot index the signature");
  }
  encoder->job_ = std::make_unique<RsyncJob>(rs_delta_begin(loaded), "delta");
  return encoder;
}

DeltaEncoder::DeltaEncoder(rs_signature* signature) : signature_(signature) {}

DeltaEncoder::~DeltaEncoder() {
  job_.reset();  // The job refers to the signature.
  if (signature_ != nullptr) rs_free_sumset(signature_);
}

absl::Status DeltaEncoder::Update(absl::string_view data,
                                  const ByteSink& sink) {
  return job_->Feed(data, /*eof=*/false, sink, absl::StatusCode::kInternal);
}

absl::Status DeltaEncoder::Finish(const ByteSink& sink) {
  return job_->Feed("", /*eof=*/true, sink, absl::StatusCode::kInternal);
}

std::string DeltaHeader() {
  std::string out;
  PutInt(RS_DELTA_MAGIC, 4, &out);
  return out;
}

std::string CopyCommand(uint64_t offset, uint64_t length) {
  std::string out;
  while (length > 0) {
    const uint64_t n = std::min(length, kMaxCopyBytes);
    const int offset_len = IntLen(offset);
    const int length_len = IntLen(n);
    out.push_back(static_cast<char>(kOpCopyN1N1 + 4 * LenIndex(offset_len) +
                                    LenIndex(length_len)));
    PutInt(offset, offset_len, &out);
    PutInt(n, length_len, &out);
    offset += n;
    length -= n;
  }
  return out;
}

std::string LiteralHeader(uint64_t length) {
  std::string out;
  if (length == 0) return out;
  if (length <= 64) {
    out.push_back(static_cast<char>(length));  // LITERAL_1 .. LITERAL_64.
    return out;
  }
  const int len = IntLen(length);
  out.push_back(static_cast<char>(kOpLiteralN1 + LenIndex(len)));
  PutInt(length, len, &out);
  return out;
}

std::string DeltaEnd() { return std::string(1, static_cast<char>(kOpEnd)); }

}  // namespace tether::sync
