#ifndef TETHER_AGENT_OTLP_EXPORTER_H_
#define TETHER_AGENT_OTLP_EXPORTER_H_

// Reports a replica's activity to tetherd (or any OpenTelemetry Collector)
// as OTLP metrics over gRPC (`MetricsService/Export`).

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/activity.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/tls.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace tether::agent {

/// Metric names and the scope, as receivers see them.
inline constexpr char kOtlpScopeName[] = "tether-agent";
inline constexpr char kCallsStartedMetric[] = "tether.calls.started";
inline constexpr char kCallsFinishedMetric[] = "tether.calls.finished";
inline constexpr char kCallsInFlightMetric[] = "tether.calls.in_flight";

/// Where to dial an OTLP/gRPC receiver.
struct OtlpEndpoint {
  /// host:port, as grpc::CreateChannel takes it.
  std::string target;
  /// https://: TLS with the system's root certificates.
  bool tls = false;
};

/// Parses `host:port`, `http://host:port` or `https://host:port` (the
/// OpenTelemetry SDKs' URL form; a trailing "/" is allowed). INVALID_ARGUMENT
/// for anything else (other schemes, paths, no port).
absl::StatusOr<OtlpEndpoint> ParseOtlpEndpoint(absl::string_view endpoint);

/// Exports the ActivityCounters as OTLP metrics from a thread of its own:
/// one ResourceMetrics with one ScopeMetrics (scope "tether-agent") holding
///   tether.calls.started, tether.calls.finished: monotonic cumulative Sums
///     (as_int, unit "{call}", start = when counting began);
///   tether.calls.in_flight: a Gauge (as_int, unit "{call}").
///
/// When: every `interval`; at once when the counters signal the first call
/// after an idle period; and on destruction (one last export). A long call
/// keeps being reported on the interval, so its service stays alive.
///
/// Failures: UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED retry
/// with the backoff; each attempt sends a fresh snapshot, so nothing queues
/// up (cumulative values make a lost export harmless). Other errors are
/// logged (rate-limited) and the next interval tries again. A partial
/// success with rejected points is logged once per change.
///
/// Thread-safe: nothing to call after Create but the destructor.
class OtlpExporter {
 public:
  struct Options {
    /// The receiver: host:port or http(s)://host:port (ParseOtlpEndpoint).
    std::string endpoint;
    /// Between exports. Positive.
    absl::Duration interval = absl::Seconds(5);
    /// Per export attempt (a gRPC deadline, so real time even with a
    /// simulated clock). Positive.
    absl::Duration timeout = absl::Seconds(5);
    /// The last export on destruction: short, so shutdown is not held up.
    absl::Duration final_timeout = absl::Seconds(1);
    /// Between retries while the receiver is down (Backoff::Validate).
    Backoff::Options backoff = {/*initial=*/absl::Seconds(1),
                                /*max=*/absl::Seconds(30),
                                /*multiplier=*/2, /*jitter=*/0.2};
    /// Times the interval and the backoff. Not owned; never null.
    Clock* clock = Clock::Real();
    /// Resource attributes, string-valued, in order; keys unique and
    /// non-empty (service.name, tether.service, ...).
    std::vector<std::pair<std::string, std::string>> resource_attributes;
    /// An https:// endpoint's TLS: the CA the receiver is verified against
    /// (empty: the system's roots) and the certificate presented, if any.
    TlsFiles tls;
    /// gRPC metadata on every export (e.g. authorization). Keys lowercase
    /// [0-9a-z-_.], not "grpc-" and not "-bin".
    std::vector<std::pair<std::string, std::string>> headers;
    /// What to export. Not owned, must outlive the exporter; never null.
    ActivityCounters* counters = nullptr;
  };

  /// INVALID_ARGUMENT naming the option that is wrong. Does not dial:
  /// an unreachable receiver is a retry, not an error.
  static absl::StatusOr<std::unique_ptr<OtlpExporter>> Create(Options options);
  /// Exports once more (within `final_timeout`), then stops the thread.
  ~OtlpExporter();

  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

 private:
  struct Rpc;

  OtlpExporter(Options options, std::unique_ptr<Rpc> rpc);
  void Run();
  // Attempts until accepted, refused for good, or stopping.
  void ExportWithRetry(Backoff& backoff);
  // One attempt with a fresh snapshot.
  absl::Status ExportOnce(absl::Duration timeout);
  // Rate limit for failure logs: a new status, or a minute since the last.
  bool ShouldLogFailure(const absl::Status& status);

  const Options options_;
  const std::unique_ptr<Rpc> rpc_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // The counters saw the first call after idle.
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  // Of the export under way, cancelled on stop.
  grpc::ClientContext* active_context_ ABSL_GUARDED_BY(mu_) = nullptr;

  // The exporter thread's own state.
  absl::Status last_logged_failure_;
  absl::Time last_failure_log_ = absl::InfinitePast();
  int64_t last_rejected_points_ = 0;
  std::string last_partial_message_;

  std::thread thread_;
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_OTLP_EXPORTER_H_
