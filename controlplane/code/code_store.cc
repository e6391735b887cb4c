#include "controlplane/code/code_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "sync/tree.h"

namespace tether::controlplane {

absl::Status CheckBlobKey(absl::string_view sha256) {
  if (sha256.size() != kSha256Size) {
    return absl::InvalidArgumentError(
        absl::StrCat("blob digest must be 32 bytes, got ", sha256.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckRevisionKey(absl::string_view revision) {
  if (!sync::IsRevisionId(revision)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed revision id \"", absl::CHexEscape(revision.substr(0, 80)),
        "\": want 64 lowercase hex digits"));
  }
  return absl::OkStatus();
}

absl::Status CheckTreeMatchesRevision(absl::string_view revision,
                                      const tether::v1::Tree& tree) {
  RETURN_IF_ERROR(CheckRevisionKey(revision));
  const std::string id = sync::TreeId(tree);
  if (id != revision) {
    return absl::InvalidArgumentError(absl::StrCat(
        "revision ", revision, " does not match its tree (", id, ")"));
  }
  return absl::OkStatus();
}

}  // namespace tether::controlplane
