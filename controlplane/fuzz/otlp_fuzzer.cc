// libFuzzer target for what tetherd's OTLP receiver accepts from agents and
// Collectors: the bytes of an ExportMetricsServiceRequest, parsed as
// OtlpReceiver::Export parses them and fed to IngestOtlp. The contract under
// test: no crash, no sanitizer report; rejected points are counted within
// the request's points and explained; calls in flight never go negative.
//
// Input: one selector byte (even: a trusted sender, odd: the agent of
// "hello"), then the request's bytes.
//
// Built and run outside Bazel by tools/fuzz (clang-14);
// //controlplane/fuzz:otlp_fuzzer_seed_test replays the seeds under Bazel.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controlplane/activity_tracker.h"
#include "controlplane/otlp_ingest.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"

namespace {

using ::opentelemetry::proto::collector::metrics::v1::
    ExportMetricsServiceRequest;
using ::tether::controlplane::ActivityTracker;
using ::tether::controlplane::IngestOtlp;
using ::tether::controlplane::OtlpIngestResult;
using ::tether::controlplane::OtlpSender;

void Check(bool ok) {
  if (!ok) abort();
}

int64_t PointsIn(const ExportMetricsServiceRequest& request) {
  int64_t points = 0;
  for (const auto& resource : request.resource_metrics()) {
    for (const auto& scope : resource.scope_metrics()) {
      for (const auto& metric : scope.metrics()) {
        points += metric.gauge().data_points_size() +
                  metric.sum().data_points_size() +
                  metric.histogram().data_points_size() +
                  metric.exponential_histogram().data_points_size() +
                  metric.summary().data_points_size();
      }
    }
  }
  return points;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ExportMetricsServiceRequest request;
  if (!request.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
  OtlpSender sender;
  if (data[0] % 2 == 1) sender.service = "hello";
  const auto service_exists = [](const std::string& name) {
    return name == "hello" || name == "world";
  };
  // A fresh tracker per input: state across inputs would make crashes
  // unreproducible from one input.
  ActivityTracker activity(ActivityTracker::Options{});
  const OtlpIngestResult result =
      IngestOtlp(request, sender, service_exists, activity);
  Check(result.rejected_data_points >= 0);
  Check(result.rejected_data_points <= PointsIn(request));
  Check(result.error_message.empty() == (result.rejected_data_points == 0));
  for (const char* service : {"hello", "world"}) {
    Check(activity.InFlight(service) >= 0);
  }
  return 0;
}
