#include "controlplane/otlp_ingest.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/activity_tracker.h"

namespace tether::controlplane {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace metrics = opentelemetry::proto::metrics::v1;
using google::protobuf::RepeatedPtrField;

// Reasons are reported, not every point: a few distinct ones are enough.
constexpr size_t kMaxReasons = 3;

class Rejections {
 public:
  void Add(int64_t points, std::string reason) {
    if (points <= 0) return;
    result_.rejected_data_points += points;
    for (const std::string& seen : reasons_) {
      if (seen == reason) return;
    }
    if (reasons_.size() < kMaxReasons) reasons_.push_back(std::move(reason));
  }
  OtlpIngestResult Take() {
    result_.error_message = absl::StrJoin(reasons_, "; ");
    return std::move(result_);
  }

 private:
  OtlpIngestResult result_;
  std::vector<std::string> reasons_;
};

std::string StringAttribute(
    const RepeatedPtrField<common::KeyValue>& attributes, const char* key) {
  for (const common::KeyValue& attribute : attributes) {
    if (attribute.key() == key && attribute.value().has_string_value()) {
      return attribute.value().string_value();
    }
  }
  return "";
}

int64_t PointCount(const metrics::Metric& metric) {
  switch (metric.data_case()) {
    case metrics::Metric::kGauge:
      return metric.gauge().data_points_size();
    case metrics::Metric::kSum:
      return metric.sum().data_points_size();
    case metrics::Metric::kHistogram:
      return metric.histogram().data_points_size();
    case metrics::Metric::kExponentialHistogram:
      return metric.exponential_histogram().data_points_size();
    case metrics::Metric::kSummary:
      return metric.summary().data_points_size();
    default:
      return 0;
  }
}

// Reports are untrusted: a sum that would overflow saturates instead.
int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b < 0 ? std::numeric_limits<int64_t>::min()
               : std::numeric_limits<int64_t>::max();
}

// The points' values summed (doubles rounded and clamped to int64);
// `unused` counts points with no value (a gap marker or neither field set).
int64_t SumOfPoints(const RepeatedPtrField<metrics::NumberDataPoint>& points,
                    int64_t* unused) {
  int64_t sum = 0;
  for (const metrics::NumberDataPoint& point : points) {
    const bool gap =
        point.flags() & metrics::DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK;
    if (!gap && point.value_case() == metrics::NumberDataPoint::kAsInt) {
      sum = SaturatingAdd(sum, point.as_int());
    } else if (!gap &&
               point.value_case() == metrics::NumberDataPoint::kAsDouble &&
               std::isfinite(point.as_double())) {
      // llround of a value beyond int64 is unspecified: clamp first.
      sum = SaturatingAdd(
          sum, std::llround(std::clamp(point.as_double(), -9.2e18, 9.2e18)));
    } else {
      ++*unused;
    }
  }
  return sum;
}

absl::Time StartOf(const RepeatedPtrField<metrics::NumberDataPoint>& points) {
  uint64_t start = std::numeric_limits<uint64_t>::max();
  for (const metrics::NumberDataPoint& point : points) {
    start = std::min(start, point.start_time_unix_nano());
  }
  return points.empty() ? absl::UnixEpoch()
                        : absl::FromUnixNanos(static_cast<int64_t>(start));
}

// A calls-started or calls-finished counter.
void IngestCounter(const metrics::Metric& metric, const std::string& service,
                   const std::string& series, ActivityTracker& activity,
                   Rejections& rejections) {
  const int64_t points = PointCount(metric);
  if (!metric.has_sum() || !metric.sum().is_monotonic()) {
    rejections.Add(points,
                   absl::StrCat(metric.name(), " must be a monotonic Sum"));
    return;
  }
  const metrics::Sum& sum = metric.sum();
  const auto temporality = sum.aggregation_temporality();
  if (temporality != metrics::AGGREGATION_TEMPORALITY_CUMULATIVE &&
      temporality != metrics::AGGREGATION_TEMPORALITY_DELTA) {
    rejections.Add(
        points, absl::StrCat(metric.name(), " has no aggregation temporality"));
    return;
  }
  int64_t unused = 0;
  const int64_t value = SumOfPoints(sum.data_points(), &unused);
  rejections.Add(unused, "points without a value");
  if (unused == points) return;
  activity.ReportCalls(service, series,
                       {value, StartOf(sum.data_points()),
                        temporality == metrics::AGGREGATION_TEMPORALITY_DELTA});
}

// Calls in flight: a Gauge, or a cumulative non-monotonic Sum.
void IngestInFlight(const metrics::Metric& metric, const std::string& service,
                    const std::string& replica, ActivityTracker& activity,
                    Rejections& rejections) {
  const RepeatedPtrField<metrics::NumberDataPoint>* points = nullptr;
  if (metric.has_gauge()) {
    points = &metric.gauge().data_points();
  } else if (metric.has_sum() && !metric.sum().is_monotonic() &&
             metric.sum().aggregation_temporality() ==
                 metrics::AGGREGATION_TEMPORALITY_CUMULATIVE) {
    // A delta would say how the count changed, not what it is.
    points = &metric.sum().data_points();
  } else {
    rejections.Add(PointCount(metric),
                   absl::StrCat(metric.name(),
                                " must be a Gauge or a cumulative "
                                "non-monotonic Sum"));
    return;
  }
  int64_t unused = 0;
  const int64_t value = SumOfPoints(*points, &unused);
  rejections.Add(unused, "points without a value");
  if (unused == points->size()) return;
  activity.ReportInFlight(service, replica, value);
}

// Resource attributes name the replica; an SDK outside Tether may only
// have the pod or an instance id.
std::string ReplicaOf(const RepeatedPtrField<common::KeyValue>& attributes) {
  for (const char* key :
       {kReplicaAttribute, "k8s.pod.name", "service.instance.id"}) {
    std::string value = StringAttribute(attributes, key);
    if (!value.empty()) return value;
  }
  return "";
}

}  // namespace

OtlpIngestResult IngestOtlp(
    const opentelemetry::proto::collector::metrics::v1::
        ExportMetricsServiceRequest& request,
    const OtlpSender& sender,
    const std::function<bool(const std::string&)>& service_exists,
    ActivityTracker& activity) {
  Rejections rejections;
  for (const metrics::ResourceMetrics& resource : request.resource_metrics()) {
    const auto& attributes = resource.resource().attributes();
    const std::string named = StringAttribute(attributes, kServiceAttribute);
    std::string service;
    std::string refused;
    if (sender.service.has_value()) {
      service = *sender.service;
      if (!named.empty() && named != service) {
        refused = absl::StrCat("a resource names service ", named,
                               " but the token is service ", service, "'s");
      }
    } else {
      service =
          named.empty() ? StringAttribute(attributes, "service.name") : named;
      if (service.empty() || !service_exists(service)) {
        refused = absl::StrCat("no Tether service \"", service, "\"");
      }
    }
    const std::string replica = ReplicaOf(attributes);
    for (const metrics::ScopeMetrics& scope : resource.scope_metrics()) {
      for (const metrics::Metric& metric : scope.metrics()) {
        if (!refused.empty()) {
          rejections.Add(PointCount(metric), refused);
        } else if (metric.name() == kCallsStartedMetric) {
          IngestCounter(metric, service, replica, activity, rejections);
        } else if (metric.name() == kCallsFinishedMetric) {
          IngestCounter(metric, service, replica + "/finished", activity,
                        rejections);
        } else if (metric.name() == kCallsInFlightMetric) {
          IngestInFlight(metric, service, replica, activity, rejections);
        } else {
          rejections.Add(PointCount(metric),
                         absl::StrCat("Tether uses only ", kCallsStartedMetric,
                                      ", ", kCallsFinishedMetric, " and ",
                                      kCallsInFlightMetric));
        }
      }
    }
  }
  return rejections.Take();
}

}  // namespace tether::controlplane
