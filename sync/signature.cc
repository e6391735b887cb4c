#include "sync/signature.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tether::sync {
namespace {

constexpr size_t kHeaderBytes = 12;
constexpr size_t kWeakBytes = 4;
constexpr uint32_t kMinBlockLen = 256;
constexpr uint32_t kMaxBlockLen = 8192;

uint32_t ReadU32(absl::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

SignatureParams SignatureParamsFor(uint64_t size) {
  SignatureParams params;
  const double root = std::sqrt(static_cast<double>(size));
  uint32_t block = kMinBlockLen;
  while (block < kMaxBlockLen && block < root) block <<= 1;
  params.block_len = block;
  return params;
}

absl::StatusOr<SignatureInfo> ParseSignature(absl::string_view signature) {
  if (signature.size() < kHeaderBytes) {
    return absl::InvalidArgumentError("signature shorter than its header");
  }
  SignatureInfo info;
  info.magic = ReadU32(signature.substr(0, 4));
  info.block_len = ReadU32(signature.substr(4, 4));
  info.strong_len = ReadU32(signature.substr(8, 4));
  if (info.magic != RS_RK_BLAKE2_SIG_MAGIC) {
    return absl::InvalidArgumentError(
        absl::StrCat("signature magic ", info.magic, " is not RK+BLAKE2"));
  }
  if (info.block_len == 0 || info.block_len > (uint32_t{1} << 20) ||
      info.strong_len == 0 || info.strong_len > RS_MAX_STRONG_SUM_LENGTH) {
    return absl::InvalidArgumentError("implausible signature parameters");
  }
  const size_t per_block = kWeakBytes + info.strong_len;
  const size_t body = signature.size() - kHeaderBytes;
  if (body % per_block != 0) {
    return absl::InvalidArgumentError("signature ends inside a block");
  }
  info.blocks = body / per_block;
  return info;
}

SignatureBuilder::SignatureBuilder(SignatureParams params)
    : job_(rs_sig_begin(params.block_len, params.strong_len,
                        RS_RK_BLAKE2_SIG_MAGIC),
           "signature") {}

absl::Status SignatureBuilder::Update(absl::string_view data) {
  return job_.Feed(
      data, /*eof=*/false,
      [this](absl::string_view out) {
        signature_.append(out.data(), out.size());
        return absl::OkStatus();
      },
      absl::StatusCode::kInternal);
}

absl::StatusOr<std::string> SignatureBuilder::Finish() {
  RETURN_IF_ERROR(job_.Feed(
      "", /*eof=*/true,
      [this](absl::string_view out) {
        signature_.append(out.data(), out.size());
        return absl::OkStatus();
      },
      absl::StatusCode::kInternal));
  return std::move(signature_);
}

absl::StatusOr<std::string> SignatureOf(absl::string_view data,
                                        SignatureParams params) {
  SignatureBuilder builder(params);
  RETURN_IF_ERROR(builder.Update(data));
  return builder.Finish();
}

uint64_t AppendTailStart(uint32_t block_len, uint64_t old_size) {
  return old_size / block_len * block_len;
}

absl::StatusOr<std::string> AppendSignature(absl::string_view old_signature,
                                            uint64_t old_size,
                                            absl::string_view tail) {
  ASSIGN_OR_RETURN(SignatureInfo old_info, ParseSignature(old_signature));
  ASSIGN_OR_RETURN(SignatureInfo tail_info, ParseSignature(tail));
  if (old_info.block_len != tail_info.block_len ||
      old_info.strong_len != tail_info.strong_len) {
    return absl::InvalidArgumentError(
        "appended signature has other parameters");
  }
  const uint64_t full_blocks = old_size / old_info.block_len;
  const uint64_t old_blocks =
      (old_size + old_info.block_len - 1) / old_info.block_len;
  if (old_info.blocks != old_blocks) {
    return absl::InvalidArgumentError(
        absl::StrCat("signature has ", old_info.blocks, " blocks, a file of ",
                     old_size, " bytes ", old_blocks));
  }
  const size_t per_block = kWeakBytes + old_info.strong_len;
  std::string out(
      old_signature.substr(0, kHeaderBytes + full_blocks * per_block));
  out.append(tail.data() + kHeaderBytes, tail.size() - kHeaderBytes);
  return out;
}

}  // namespace tether::sync
