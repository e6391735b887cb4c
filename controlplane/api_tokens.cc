#include "controlplane/api_tokens.h"

#include <sys/stat.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "servicespec/validate.h"

namespace tether::controlplane {
namespace {

bool Listed(const std::vector<std::string>& list, absl::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// A scope field's comma-separated values, each checked by `valid`.
absl::StatusOr<std::vector<std::string>> ParseList(
    absl::string_view key, absl::string_view value,
    absl::Status (*valid)(absl::string_view)) {
  std::vector<std::string> items = absl::StrSplit(value, ',');
  for (const std::string& item : items) {
    if (item.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, "= has an empty entry"));
    }
    if (absl::Status status = valid(item); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, "=: ", status.message()));
    }
  }
  return items;
}

// The scope the fields after a token ask for.
absl::StatusOr<TokenScope> ParseScope(
    const std::vector<absl::string_view>& fields) {
  TokenScope scope;
  bool has_namespaces = false;
  bool has_services = false;
  for (size_t i = 1; i < fields.size(); ++i) {
    const absl::string_view field = fields[i];
    if (absl::StartsWith(field, "#")) break;
    const size_t eq = field.find('=');
    // The field is not echoed: a token with a blank in it would land here.
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          "expected namespaces=... or services=... after the token (tokens "
          "hold no blanks)");
    }
    const absl::string_view key = field.substr(0, eq);
    const absl::string_view value = field.substr(eq + 1);
    bool* seen;
    std::vector<std::string>* list;
    absl::Status (*valid)(absl::string_view);
    if (key == "namespaces") {
      seen = &has_namespaces;
      list = &scope.namespaces;
      valid = servicespec::ValidateNamespace;
    } else if (key == "services") {
      seen = &has_services;
      list = &scope.services;
      valid = servicespec::ValidateServiceName;
    } else {
      // Only a word is echoed: anything else may be part of a token.
      const bool word = !key.empty() && key.size() <= 32 &&
                        std::all_of(key.begin(), key.end(), [](char c) {
                          return absl::ascii_islower(c) || c == '_';
                        });
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown field", word ? absl::StrCat(" \"", key, "\"") : "",
          "; expected namespaces= or services="));
    }
    if (*seen) return absl::InvalidArgumentError(absl::StrCat(key, "= twice"));
    *seen = true;
    ASSIGN_OR_RETURN(*list, ParseList(key, value, valid));
  }
  if (has_services && !has_namespaces) {
    return absl::InvalidArgumentError(
        "services= needs namespaces= (the namespaces they may be in)");
  }
  return scope;
}

}  // namespace

bool TokenScope::Allows(absl::string_view ns, absl::string_view name) const {
  return (namespaces.empty() || Listed(namespaces, ns)) &&
         (services.empty() || Listed(services, name));
}

absl::Status TokenScope::Check(absl::string_view ns,
                               absl::string_view name) const {
  if (!namespaces.empty() && !Listed(namespaces, ns)) {
    return absl::PermissionDeniedError(
        absl::StrCat("namespace ", ns,
                     ": this API token is not allowed to use it (it may "
                     "use namespaces ",
                     absl::StrJoin(namespaces, ","), ")"));
  }
  return CheckName(name);
}

absl::Status TokenScope::CheckName(absl::string_view name) const {
  if (!services.empty() && !Listed(services, name)) {
    return absl::PermissionDeniedError(
        absl::StrCat("service ", name,
                     ": this API token is not allowed to use it (it may "
                     "use services ",
                     absl::StrJoin(services, ","), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::flat_hash_map<std::string, TokenScope>> ParseApiTokens(
    absl::string_view text) {
  absl::flat_hash_map<std::string, TokenScope> scopes;
  absl::flat_hash_map<std::string, int> line_of;  // digest → line number
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    absl::StatusOr<TokenScope> scope = ParseScope(fields);
    if (!scope.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", number, ": ", scope.status().message()));
    }
    std::string digest = Sha256Of(fields[0]);
    if (auto [it, inserted] = line_of.emplace(digest, number); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", number, ": the same token as line ", it->second));
    }
    scopes.emplace(std::move(digest), *std::move(scope));
  }
  return scopes;
}

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
  if (!scopes_.empty() && version == version_) return absl::OkStatus();
  absl::StatusOr<std::string> text = ReadFile(options_.file);
  if (!text.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "API tokens file ", options_.file, ": ", text.status().message()));
  }
  absl::StatusOr<absl::flat_hash_map<std::string, TokenScope>> scopes =
      ParseApiTokens(*text);
  if (!scopes.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "API tokens file ", options_.file, ": ", scopes.status().message()));
  }
  if (scopes->empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("API tokens file ", options_.file, " holds no token"));
  }
  scopes_ = *std::move(scopes);
  version_ = version;
  return absl::OkStatus();
}

absl::StatusOr<TokenScope> ApiTokens::Check(absl::string_view authorization) {
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
  if (bearer) {
    absl::ReaderMutexLock lock(&mu_);
    if (auto it = scopes_.find(digest); it != scopes_.end()) return it->second;
  }
  return absl::UnauthenticatedError(
      bearer ? "unknown API token"
             : "missing API token: pass --token or set $TETHER_TOKEN");
}

}  // namespace tether::controlplane
