// Pins OTLP field numbers and types to the OpenTelemetry specification
// (opentelemetry-proto v1.x): a typo in the .proto files would silently
// break interop with real SDKs and Collectors, so the test names them.

#include <string>

#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/metrics/v1/metrics.pb.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;

const Descriptor* Message(const std::string& name) {
  // Linking the generated code registers the files in the generated pool.
  const Descriptor* d = DescriptorPool::generated_pool()->FindMessageTypeByName(
      "opentelemetry.proto." + name);
  EXPECT_NE(d, nullptr) << name;
  return d;
}

// The field's number and type, e.g. "6 sfixed64"; "" when missing.
std::string Field(const std::string& message, const std::string& field) {
  const Descriptor* d = Message(message);
  if (d == nullptr) return "";
  const FieldDescriptor* f = d->FindFieldByName(field);
  if (f == nullptr) return "";
  std::string out = std::to_string(f->number()) + " ";
  if (f->is_repeated()) out += "repeated ";
  if (f->type() == FieldDescriptor::TYPE_MESSAGE ||
      f->type() == FieldDescriptor::TYPE_ENUM) {
    return out + (f->type() == FieldDescriptor::TYPE_MESSAGE
                      ? f->message_type()->full_name()
                      : f->enum_type()->full_name());
  }
  return out + f->type_name();
}

TEST(OtlpWireTest, Common) {
  EXPECT_EQ(Field("common.v1.AnyValue", "string_value"), "1 string");
  EXPECT_EQ(Field("common.v1.AnyValue", "int_value"), "3 int64");
  EXPECT_EQ(Field("common.v1.AnyValue", "kvlist_value"),
            "6 opentelemetry.proto.common.v1.KeyValueList");
  EXPECT_EQ(Field("common.v1.AnyValue", "bytes_value"), "7 bytes");
  EXPECT_EQ(Field("common.v1.KeyValue", "value"),
            "2 opentelemetry.proto.common.v1.AnyValue");
  EXPECT_EQ(Field("common.v1.InstrumentationScope", "attributes"),
            "3 repeated opentelemetry.proto.common.v1.KeyValue");
  EXPECT_EQ(Field("common.v1.InstrumentationScope", "dropped_attributes_count"),
            "4 uint32");
  EXPECT_EQ(Field("resource.v1.Resource", "dropped_attributes_count"),
            "2 uint32");
}

TEST(OtlpWireTest, Metrics) {
  EXPECT_EQ(Field("metrics.v1.MetricsData", "resource_metrics"),
            "1 repeated opentelemetry.proto.metrics.v1.ResourceMetrics");
  EXPECT_EQ(Field("metrics.v1.ResourceMetrics", "scope_metrics"),
            "2 repeated opentelemetry.proto.metrics.v1.ScopeMetrics");
  EXPECT_EQ(Field("metrics.v1.ResourceMetrics", "schema_url"), "3 string");
  EXPECT_EQ(Field("metrics.v1.ScopeMetrics", "scope"),
            "1 opentelemetry.proto.common.v1.InstrumentationScope");
  EXPECT_EQ(Field("metrics.v1.Metric", "unit"), "3 string");
  EXPECT_EQ(Field("metrics.v1.Metric", "gauge"),
            "5 opentelemetry.proto.metrics.v1.Gauge");
  EXPECT_EQ(Field("metrics.v1.Metric", "sum"),
            "7 opentelemetry.proto.metrics.v1.Sum");
  EXPECT_EQ(Field("metrics.v1.Metric", "histogram"),
            "9 opentelemetry.proto.metrics.v1.Histogram");
  EXPECT_EQ(Field("metrics.v1.Metric", "exponential_histogram"),
            "10 opentelemetry.proto.metrics.v1.ExponentialHistogram");
  EXPECT_EQ(Field("metrics.v1.Metric", "summary"),
            "11 opentelemetry.proto.metrics.v1.Summary");
  EXPECT_EQ(Field("metrics.v1.Metric", "metadata"),
            "12 repeated opentelemetry.proto.common.v1.KeyValue");
  EXPECT_EQ(Field("metrics.v1.Sum", "aggregation_temporality"),
            "2 opentelemetry.proto.metrics.v1.AggregationTemporality");
  EXPECT_EQ(Field("metrics.v1.Sum", "is_monotonic"), "3 bool");

  EXPECT_EQ(Field("metrics.v1.NumberDataPoint", "attributes"),
            "7 repeated opentelemetry.proto.common.v1.KeyValue");
  EXPECT_EQ(Field("metrics.v1.NumberDataPoint", "start_time_unix_nano"),
            "2 fixed64");
  EXPECT_EQ(Field("metrics.v1.NumberDataPoint", "time_unix_nano"), "3 fixed64");
  EXPECT_EQ(Field("metrics.v1.NumberDataPoint", "as_double"), "4 double");
  EXPECT_EQ(Field("metrics.v1.NumberDataPoint", "as_int"), "6 sfixed64");
  EXPECT_EQ(Field("metrics.v1.NumberDataPoint", "exemplars"),
            "5 repeated opentelemetry.proto.metrics.v1.Exemplar");
  EXPECT_EQ(Field("metrics.v1.NumberDataPoint", "flags"), "8 uint32");

  EXPECT_EQ(Field("metrics.v1.HistogramDataPoint", "attributes"),
            "9 repeated opentelemetry.proto.common.v1.KeyValue");
  EXPECT_EQ(Field("metrics.v1.HistogramDataPoint", "count"), "4 fixed64");
  EXPECT_EQ(Field("metrics.v1.HistogramDataPoint", "bucket_counts"),
            "6 repeated fixed64");
  EXPECT_EQ(Field("metrics.v1.HistogramDataPoint", "flags"), "10 uint32");
  EXPECT_EQ(Field("metrics.v1.HistogramDataPoint", "max"), "12 double");
  EXPECT_EQ(Field("metrics.v1.ExponentialHistogramDataPoint", "scale"),
            "6 sint32");
  EXPECT_EQ(Field("metrics.v1.ExponentialHistogramDataPoint", "zero_count"),
            "7 fixed64");
  EXPECT_EQ(Field("metrics.v1.ExponentialHistogramDataPoint", "zero_threshold"),
            "14 double");
  EXPECT_EQ(Field("metrics.v1.ExponentialHistogramDataPoint.Buckets",
                  "bucket_counts"),
            "2 repeated uint64");
  EXPECT_EQ(Field("metrics.v1.SummaryDataPoint", "quantile_values"),
            "6 repeated "
            "opentelemetry.proto.metrics.v1.SummaryDataPoint.ValueAtQuantile");
  EXPECT_EQ(Field("metrics.v1.SummaryDataPoint", "flags"), "8 uint32");
  EXPECT_EQ(Field("metrics.v1.Exemplar", "as_int"), "6 sfixed64");
  EXPECT_EQ(Field("metrics.v1.Exemplar", "trace_id"), "5 bytes");

  // Optional sums: presence is on the wire's semantics (unset != 0).
  EXPECT_TRUE(Message("metrics.v1.HistogramDataPoint")
                  ->FindFieldByName("sum")
                  ->has_presence());

  const auto* temporality =
      opentelemetry::proto::metrics::v1::AggregationTemporality_descriptor();
  EXPECT_EQ(temporality->FindValueByName("AGGREGATION_TEMPORALITY_CUMULATIVE")
                ->number(),
            2);
  EXPECT_EQ(opentelemetry::proto::metrics::v1::
                DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK,
            1);
}

TEST(OtlpWireTest, MetricsService) {
  EXPECT_EQ(Field("collector.metrics.v1.ExportMetricsServiceRequest",
                  "resource_metrics"),
            "1 repeated opentelemetry.proto.metrics.v1.ResourceMetrics");
  EXPECT_EQ(Field("collector.metrics.v1.ExportMetricsPartialSuccess",
                  "rejected_data_points"),
            "1 int64");
  EXPECT_EQ(Field("collector.metrics.v1.ExportMetricsPartialSuccess",
                  "error_message"),
            "2 string");
  // The full method name is the wire path gRPC clients call.
  const auto* service = DescriptorPool::generated_pool()->FindServiceByName(
      "opentelemetry.proto.collector.metrics.v1.MetricsService");
  ASSERT_NE(service, nullptr);
  ASSERT_NE(service->FindMethodByName("Export"), nullptr);
}

}  // namespace
