#ifndef TETHER_COMMON_METRICS_TEXT_H_
#define TETHER_COMMON_METRICS_TEXT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/http_server.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace tether {

/// The Prometheus text exposition format's content type.
inline constexpr char kMetricsContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

/// Every family in `registry` in the Prometheus text exposition format.
/// Thread-safe: collecting reads the metrics' atomics and takes the
/// registry's and families' own locks.
std::string MetricsText(const prometheus::Registry& registry);

/// The `/metrics` route of an HttpServer, serving MetricsText(*registry).
/// `registry` is not owned and must outlive the server.
HttpServer::Route MetricsRoute(const prometheus::Registry* registry);

/// The `outcome` label of a finished call or operation: the status code's
/// lowercase name ("ok", "invalid_argument"). grpc::StatusCode has the same
/// numbers, so cast it. Codes outside 0..16 are "unknown".
std::string OutcomeLabel(absl::StatusCode code);

/// Histogram buckets (seconds) for durations from 100 µs to ten minutes:
/// calls (a direct call takes ~150 µs), admission reviews, reloads,
/// wake-ups.
const std::vector<double>& DurationBuckets();

}  // namespace tether

#endif  // TETHER_COMMON_METRICS_TEXT_H_
