#ifndef TETHER_KUBE_KUBE_CLIENT_HTTP_H_
#define TETHER_KUBE_KUBE_CLIENT_HTTP_H_

// KubeClient over HTTP(S) with libcurl: the real API server, or the fake one
// in tests/fake_kube_apiserver.

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"

namespace tether::kube {

/// Talks to the API server named by a KubeConfig. Every verb is retried on
/// 429, 5xx and connection failures that happen before a response (apply,
/// get, list, delete, scale and log reads are idempotent: repeating an apply or
/// a replica count changes nothing, and a repeated delete whose first attempt
/// went through reports NOT_FOUND); a watch is retried only until its stream
/// starts. Thread-safe; idle connections are pooled and reused.
class KubeClientHttp final : public KubeClient {
 public:
  struct RetryPolicy {
    /// Attempts per call, the first included.
    int max_attempts = 5;
    /// Delays between attempts: 200 ms, doubling up to 5 s, each scaled by a
    /// random factor in [0.8, 1.2] (jitter spreads out clients that failed
    /// together).
    Backoff::Options backoff = {/*initial=*/absl::Milliseconds(200),
                                /*max=*/absl::Seconds(5), /*multiplier=*/2,
                                /*jitter=*/0.2};
    /// A server's `Retry-After` replaces the backoff, capped at this.
    absl::Duration max_retry_after = absl::Seconds(30);
  };

  struct Options {
    KubeConfig config;
    /// Whole-request limit (not for watches, which the server ends after
    /// WatchOptions::timeout; the client gives up that plus this later).
    absl::Duration request_timeout = absl::Seconds(30);
    absl::Duration connect_timeout = absl::Seconds(10);
    RetryPolicy retry;
    /// Waits between attempts. Null: waits on the clock, ending early on
    /// Shutdown. Tests pass a recorder so no time passes.
    std::function<void(absl::Duration)> sleep;
    /// Idle connections kept for reuse; more may be open while busy.
    size_t max_idle_connections = 4;
    /// Token clock and re-read period (see TokenSource).
    TokenSource::Options token_source;
  };

  /// INVALID_ARGUMENT when `config.server` is not an http(s) URL or only
  /// one of the client certificate and key is set.
  static absl::StatusOr<std::unique_ptr<KubeClientHttp>> Create(
      Options options);

  ~KubeClientHttp() override;

  absl::StatusOr<nlohmann::json> Apply(const nlohmann::json& object) override;
  absl::StatusOr<nlohmann::json> Get(const ResourceType& type,
                                     absl::string_view ns,
                                     absl::string_view name) override;
  absl::StatusOr<ObjectList> List(const ResourceType& type,
                                  absl::string_view ns,
                                  absl::string_view label_selector) override;
  absl::Status Watch(
      const ResourceType& type, absl::string_view ns,
      const WatchOptions& options,
      const std::function<bool(const WatchEvent&)>& on_event) override;
  absl::Status Delete(
      const ResourceType& type, absl::string_view ns, absl::string_view name,
      Propagation propagation = Propagation::kBackground) override;
  absl::StatusOr<int32_t> GetScale(const ResourceType& type,
                                   absl::string_view ns,
                                   absl::string_view name) override;
  absl::Status SetScale(const ResourceType& type, absl::string_view ns,
                        absl::string_view name, int32_t replicas) override;
  absl::StatusOr<std::string> PodLogs(absl::string_view ns,
                                      absl::string_view name,
                                      const PodLogOptions& options) override;
  absl::StatusOr<ResourceType> Discover(absl::string_view api_version,
                                        absl::string_view kind) override;
  void Shutdown() override;

 private:
  struct Request;
  struct Transfer;
  // A libcurl easy handle (CURL*), opaque here to keep curl.h private.
  using Handle = void*;

  explicit KubeClientHttp(Options options);

  // Runs `request` with retries; returns the response body of a 2xx.
  absl::StatusOr<std::string> Call(const Request& request);
  // One attempt; fills `transfer`.
  void Perform(const Request& request, const std::string& token,
               Transfer& transfer);

  Handle AcquireHandle() ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseHandle(Handle handle) ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  const std::string server_;  // Without a trailing '/'.
  TokenSource tokens_;
  absl::Notification shutdown_;

  absl::Mutex mu_;
  std::vector<Handle> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::kube

#endif  // TETHER_KUBE_KUBE_CLIENT_HTTP_H_
