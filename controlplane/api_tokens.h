#ifndef TETHER_CONTROLPLANE_API_TOKENS_H_
#define TETHER_CONTROLPLANE_API_TOKENS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace tether::controlplane {

/// What one API token may use: the services of some namespaces, or only
/// some services in them. Default-constructed: everything (an unscoped
/// token, or an open API). Thread-compatible value type.
struct TokenScope {
  /// Empty: every namespace.
  std::vector<std::string> namespaces;
  /// Empty: every service in `namespaces`.
  std::vector<std::string> services;

  bool unscoped() const { return namespaces.empty() && services.empty(); }
  /// Whether the token may use service `name` in namespace `ns`.
  bool Allows(absl::string_view ns, absl::string_view name) const;
  /// OK when Allows; otherwise PERMISSION_DENIED naming the namespace or the
  /// service the token may not use.
  absl::Status Check(absl::string_view ns, absl::string_view name) const;
  /// As Check, for a service whose namespace is not known (no such
  /// service): only the services list can refuse it.
  absl::Status CheckName(absl::string_view name) const;
};

/// The token file's lines, keyed by each token's SHA-256 digest. A line is
/// `TOKEN` (unscoped) or `TOKEN namespaces=a,b [services=x,y]` (fields
/// separated by blanks, in any order); blank lines and lines starting with
/// '#' are skipped, and a field starting with '#' ends its line.
/// INVALID_ARGUMENT naming the line number (never the token) for an unknown
/// or repeated field, an empty or invalid namespace or service name,
/// services= without namespaces=, or a token listed twice. An empty map
/// when there are no tokens. Thread-safe.
absl::StatusOr<absl::flat_hash_map<std::string, TokenScope>> ParseApiTokens(
    absl::string_view text);

/// The bearer tokens the ControlPlane API accepts and what each may use,
/// read from a file (ParseApiTokens). The file is re-read when it changes,
/// so rotating the Kubernetes Secret it is mounted from takes effect
/// without a restart; a file that fails to parse keeps the last good
/// tokens. Only SHA-256 digests are kept, so a check takes the same time
/// whichever character differs.
/// Thread-safe.
class ApiTokens {
 public:
  struct Options {
    /// Required.
    std::string file;
    /// How often Check looks at the file for changes.
    absl::Duration recheck = absl::Seconds(5);
    /// When to look at the file again. Never null.
    Clock* clock = Clock::Real();
  };

  /// FAILED_PRECONDITION naming the file when it cannot be read, does not
  /// parse (naming the line) or holds no token: an API nobody can use is a
  /// misconfiguration.
  static absl::StatusOr<std::unique_ptr<ApiTokens>> Create(Options options);

  /// The token's scope when `authorization` (the request's metadata value)
  /// is "Bearer <a listed token>"; UNAUTHENTICATED otherwise.
  absl::StatusOr<TokenScope> Check(absl::string_view authorization);

 private:
  struct FileVersion {
    int64_t inode = 0;
    int64_t size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileVersion& other) const {
      return inode == other.inode && size == other.size &&
             mtime_ns == other.mtime_ns;
    }
  };

  explicit ApiTokens(Options options) : options_(std::move(options)) {}
  // Re-reads the file when it changed; keeps the last good tokens if the
  // new file is unreadable, malformed or empty.
  absl::Status Reload() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  absl::Mutex mu_;
  // Token digest → its scope.
  absl::flat_hash_map<std::string, TokenScope> scopes_ ABSL_GUARDED_BY(mu_);
  FileVersion version_ ABSL_GUARDED_BY(mu_);
  // When the file was last looked at (Unix ns); read without the lock.
  std::atomic<int64_t> checked_ns_{0};
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_API_TOKENS_H_
