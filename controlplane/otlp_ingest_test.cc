#include "controlplane/otlp_ingest.h"

#include <string>

#include "common/clock.h"
#include "controlplane/activity_tracker.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

namespace metrics = opentelemetry::proto::metrics::v1;
using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;

constexpr absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

class OtlpIngestTest : public ::testing::Test {
 protected:
  OtlpIngestTest() : clock_(kStart), tracker_({&clock_, absl::Minutes(1)}) {}

  // A resource with `attributes` (key, value pairs); returns its metrics.
  metrics::ScopeMetrics* AddResource(
      std::initializer_list<std::pair<const char*, const char*>> attributes) {
    metrics::ResourceMetrics* resource = request_.add_resource_metrics();
    for (const auto& [key, value] : attributes) {
      auto* attribute = resource->mutable_resource()->add_attributes();
      attribute->set_key(key);
      attribute->mutable_value()->set_string_value(value);
    }
    return resource->add_scope_metrics();
  }

  static metrics::Sum* AddSum(metrics::ScopeMetrics* scope, const char* name,
                              bool monotonic,
                              metrics::AggregationTemporality temporality) {
    metrics::Metric* metric = scope->add_metrics();
    metric->set_name(name);
    metrics::Sum* sum = metric->mutable_sum();
    sum->set_is_monotonic(monotonic);
    sum->set_aggregation_temporality(temporality);
    return sum;
  }

  static void AddPoint(metrics::Sum* sum, int64_t value) {
    metrics::NumberDataPoint* point = sum->add_data_points();
    point->set_as_int(value);
    point->set_start_time_unix_nano(absl::ToUnixNanos(kStart));
  }

  OtlpIngestResult Ingest(OtlpSender sender = {"hello"}) {
    return IngestOtlp(
        request_, sender,
        [](const std::string& service) { return service == "hello"; },
        tracker_);
  }

  SimulatedClock clock_;
  ActivityTracker tracker_;
  ExportMetricsServiceRequest request_;
};

TEST_F(OtlpIngestTest, AnEmptyRequestIsFine) {
  const OtlpIngestResult result = Ingest();
  EXPECT_EQ(result.rejected_data_points, 0);
  EXPECT_EQ(result.error_message, "");
}

TEST_F(OtlpIngestTest, TheAgentsMetricsAreUsed) {
  metrics::ScopeMetrics* scope = AddResource({{"tether.replica", "hello-0"}});
  AddPoint(AddSum(scope, kCallsStartedMetric, true,
                  metrics::AGGREGATION_TEMPORALITY_CUMULATIVE),
           4);
  AddPoint(AddSum(scope, kCallsFinishedMetric, true,
                  metrics::AGGREGATION_TEMPORALITY_CUMULATIVE),
           3);
  metrics::Metric* in_flight = scope->add_metrics();
  in_flight->set_name(kCallsInFlightMetric);
  in_flight->mutable_gauge()->add_data_points()->set_as_int(1);
  EXPECT_EQ(Ingest().rejected_data_points, 0);
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart);
  EXPECT_EQ(tracker_.InFlight("hello"), 1);
}

TEST_F(OtlpIngestTest, PointsOfOneSeriesAreSummedAndDoublesRounded) {
  metrics::ScopeMetrics* scope = AddResource({{"k8s.pod.name", "hello-abc"}});
  metrics::Sum* in_flight = AddSum(scope, kCallsInFlightMetric, false,
                                   metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
  AddPoint(in_flight, 2);
  in_flight->add_data_points()->set_as_double(1.0);
  EXPECT_EQ(Ingest().rejected_data_points, 0);
  EXPECT_EQ(tracker_.InFlight("hello"), 3);
}

TEST_F(OtlpIngestTest, DeltaCountersAreActivityWhenAboveZero) {
  metrics::ScopeMetrics* scope = AddResource({});
  AddPoint(AddSum(scope, kCallsStartedMetric, true,
                  metrics::AGGREGATION_TEMPORALITY_DELTA),
           0);
  Ingest();
  EXPECT_EQ(tracker_.LastActivity("hello"), absl::InfinitePast());
  request_.Clear();
  AddPoint(AddSum(AddResource({}), kCallsStartedMetric, true,
                  metrics::AGGREGATION_TEMPORALITY_DELTA),
           2);
  Ingest();
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart);
}

TEST_F(OtlpIngestTest, WhatTetherDoesNotUseIsCountedWithAReason) {
  metrics::ScopeMetrics* scope = AddResource({});
  metrics::Sum* other = AddSum(scope, "http.server.requests", true,
                               metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
  AddPoint(other, 1);
  AddPoint(other, 2);
  // A histogram under a name Tether reads is the wrong shape.
  metrics::Metric* histogram = scope->add_metrics();
  histogram->set_name(kCallsStartedMetric);
  histogram->mutable_histogram()->add_data_points();
  // A non-monotonic started counter, and one with no temporality.
  AddPoint(AddSum(scope, kCallsStartedMetric, false,
                  metrics::AGGREGATION_TEMPORALITY_CUMULATIVE),
           1);
  AddPoint(AddSum(scope, kCallsFinishedMetric, true,
                  metrics::AGGREGATION_TEMPORALITY_UNSPECIFIED),
           1);
  const OtlpIngestResult result = Ingest();
  EXPECT_EQ(result.rejected_data_points, 5);
  EXPECT_NE(result.error_message.find("Tether uses only"), std::string::npos)
      << result.error_message;
  EXPECT_NE(result.error_message.find("monotonic Sum"), std::string::npos);
  EXPECT_EQ(tracker_.LastActivity("hello"), absl::InfinitePast());
}

TEST_F(OtlpIngestTest, AgentTokensAreNotOverriddenByAttributes) {
  AddPoint(
      AddSum(AddResource({{"tether.service", "other"}}), kCallsStartedMetric,
             true, metrics::AGGREGATION_TEMPORALITY_CUMULATIVE),
      1);
  const OtlpIngestResult result = Ingest({"hello"});
  EXPECT_EQ(result.rejected_data_points, 1);
  EXPECT_NE(result.error_message.find("token is service hello's"),
            std::string::npos)
      << result.error_message;
  EXPECT_EQ(tracker_.LastActivity("other"), absl::InfinitePast());
  EXPECT_EQ(tracker_.LastActivity("hello"), absl::InfinitePast());
}

TEST_F(OtlpIngestTest, TrustedSendersNameTheServiceInTheResource) {
  AddPoint(AddSum(AddResource({{"service.name", "hello"}}), kCallsStartedMetric,
                  true, metrics::AGGREGATION_TEMPORALITY_CUMULATIVE),
           1);
  AddPoint(
      AddSum(AddResource({{"tether.service", "ghost"}}), kCallsStartedMetric,
             true, metrics::AGGREGATION_TEMPORALITY_CUMULATIVE),
      1);
  const OtlpIngestResult result = Ingest(OtlpSender{});
  EXPECT_EQ(result.rejected_data_points, 1);
  EXPECT_NE(result.error_message.find("no Tether service \"ghost\""),
            std::string::npos);
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart);
}

}  // namespace
}  // namespace tether::controlplane
