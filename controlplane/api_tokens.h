#ifndef TETHER_CONTROLPLANE_API_TOKENS_H_
#define TETHER_CONTROLPLANE_API_TOKENS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace tether::controlplane {

/// The bearer tokens the ControlPlane API accepts, read from a file: one
/// token per line, blank lines and `#` comments ignored. The file is
/// re-read when it changes, so rotating the Kubernetes Secret it is mounted
/// from takes effect without a restart. Only SHA-256 digests are kept, so
/// a check takes the same time whichever character differs.
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

  /// FAILED_PRECONDITION naming the file when it cannot be read or holds
  /// no token: an API nobody can use is a misconfiguration.
  static absl::StatusOr<std::unique_ptr<ApiTokens>> Create(Options options);

  /// OK when `authorization` (the request's metadata value) is
  /// "Bearer <a listed token>"; UNAUTHENTICATED otherwise.
  absl::Status Check(absl::string_view authorization);

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
  // new file is unreadable or empty.
  absl::Status Reload() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> digests_ ABSL_GUARDED_BY(mu_);
  FileVersion version_ ABSL_GUARDED_BY(mu_);
  // When the file was last looked at (Unix ns); read without the lock.
  std::atomic<int64_t> checked_ns_{0};
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_API_TOKENS_H_
