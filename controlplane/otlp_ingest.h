#ifndef TETHER_CONTROLPLANE_OTLP_INGEST_H_
#define TETHER_CONTROLPLANE_OTLP_INGEST_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"

namespace tether::controlplane {

class ActivityTracker;

/// The metrics Tether reads from OTLP reports (the agents export them; any
/// OpenTelemetry SDK may): monotonic Sums of calls started and finished,
/// and calls in flight as a Gauge or a non-monotonic Sum (an SDK's
/// UpDownCounter). Int or double points; cumulative or delta.
inline constexpr char kCallsStartedMetric[] = "tether.calls.started";
inline constexpr char kCallsFinishedMetric[] = "tether.calls.finished";
inline constexpr char kCallsInFlightMetric[] = "tether.calls.in_flight";

/// Resource attributes that name the service and the replica of a report.
inline constexpr char kServiceAttribute[] = "tether.service";
inline constexpr char kReplicaAttribute[] = "tether.replica";

/// Who sent a report, as its credentials say.
struct OtlpSender {
  /// The service whose agent token authenticated the report: every
  /// resource is that service's, and one naming another service is
  /// rejected. Nullopt: a trusted sender (an operator's Collector with an
  /// API token, or an API without tokens) whose resources name their
  /// service with `tether.service` (or `service.name`).
  std::optional<std::string> service;
};

/// What was not used, for the response's partial_success.
struct OtlpIngestResult {
  int64_t rejected_data_points = 0;
  /// Why, for people; empty when nothing was rejected.
  std::string error_message;
};

/// Feeds `request` into `activity`. A series is one resource's metric: its
/// points (one per attribute set) are summed, so a cumulative series stays
/// monotonic. Points Tether does not use (other metrics, histograms,
/// unknown services, a temporality it cannot read, no-value points) are
/// counted as rejected with a reason; the rest is used. `service_exists`
/// says whether a service a trusted sender names is known. Thread-safe.
OtlpIngestResult IngestOtlp(
    const opentelemetry::proto::collector::metrics::v1::
        ExportMetricsServiceRequest& request,
    const OtlpSender& sender,
    const std::function<bool(const std::string&)>& service_exists,
    ActivityTracker& activity);

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_OTLP_INGEST_H_
