#include "controlplane/api_tokens.h"

#include <sys/stat.h>

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace tether::controlplane {

absl::StatusOr<std::unique_ptr<ApiTokens>> ApiTokens::Create(Options options) {
  if (options.file.empty()) {
    return absl::InvalidArgumentError("ApiTokens needs a file");
  }
  auto tokens = std::unique_ptr<ApiTokens>(new ApiTokens(std::move(options)));
  absl::MutexLock lock(&tokens->mu_);
  RETURN_IF_ERROR(tokens->Reload());
  tokens->checked_ns_.store(absl::ToUnixNanos(tokens->options_.clock->Now()),
                            std::memory_order_relaxed);
  return tokens;
}

absl::Status ApiTokens::Reload() {
  struct stat st;
  if (stat(options_.file.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("API tokens file ", options_.file, ": ",
                     ErrnoStatus(errno, "stat", options_.file).message()));
  }
  const FileVersion version = {
      static_cast<int64_t>(st.st_ino), static_cast<int64_t>(st.st_size),
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
          st.st_mtim.tv_nsec};
  if (!digests_.empty() && version == version_) return absl::OkStatus();
  absl::StatusOr<std::string> text = ReadFile(options_.file);
  if (!text.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "API tokens file ", options_.file, ": ", text.status().message()));
  }
  absl::flat_hash_set<std::string> digests;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    digests.insert(Sha256Of(line));
  }
  if (digests.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("API tokens file ", options_.file, " holds no token"));
  }
  digests_ = std::move(digests);
  version_ = version;
  return absl::OkStatus();
}

absl::Status ApiTokens::Check(absl::string_view authorization) {
  const bool bearer = absl::ConsumePrefix(&authorization, "Bearer ");
  const std::string digest = Sha256Of(authorization);
  const absl::Time now = options_.clock->Now();
  // Every call checks; only one every `recheck` takes the writer lock.
  if (now - absl::FromUnixNanos(checked_ns_.load(std::memory_order_relaxed)) >=
      options_.recheck) {
    absl::MutexLock lock(&mu_);
    if (now -
            absl::FromUnixNanos(checked_ns_.load(std::memory_order_relaxed)) >=
        options_.recheck) {
      checked_ns_.store(absl::ToUnixNanos(now), std::memory_order_relaxed);
      if (absl::Status reloaded = Reload(); !reloaded.ok()) {
        TETHER_LOG(WARNING) << reloaded << "; keeping the tokens read before";
      }
    }
  }
  bool known;
  {
    absl::ReaderMutexLock lock(&mu_);
    known = digests_.contains(digest);
  }
  if (bearer && known) return absl::OkStatus();
  return absl::UnauthenticatedError(
      bearer ? "unknown API token"
             : "missing API token: pass --token or set $TETHER_TOKEN");
}

}  // namespace tether::controlplane
