#include "agent/otlp_exporter.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/activity.h"
#include "agent/fake_otlp_receiver.h"
#include "common/clock.h"
#include "common/grpc_server.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"

namespace tether::agent {
namespace {

using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using opentelemetry::proto::metrics::v1::Metric;
using opentelemetry::proto::metrics::v1::ScopeMetrics;

using Received = FakeOtlpReceiver::Received;

const Metric* FindMetric(const ExportMetricsServiceRequest& request,
                         const std::string& name) {
  if (request.resource_metrics_size() != 1 ||
      request.resource_metrics(0).scope_metrics_size() != 1) {
    return nullptr;
  }
  const ScopeMetrics& scope = request.resource_metrics(0).scope_metrics(0);
  for (const Metric& metric : scope.metrics()) {
    if (metric.name() == name) return &metric;
  }
  return nullptr;
}

struct Counts {
  int64_t started = -1;
  int64_t finished = -1;
  int64_t in_flight = -1;
  uint64_t start_time = 0;
  uint64_t time = 0;
};

Counts CountsOf(const ExportMetricsServiceRequest& request) {
  Counts counts;
  const Metric* started = FindMetric(request, kCallsStartedMetric);
  const Metric* finished = FindMetric(request, kCallsFinishedMetric);
  const Metric* in_flight = FindMetric(request, kCallsInFlightMetric);
  if (started == nullptr || finished == nullptr || in_flight == nullptr) {
    ADD_FAILURE() << "missing metrics in " << request.DebugString();
    return counts;
  }
  counts.started = started->sum().data_points(0).as_int();
  counts.finished = finished->sum().data_points(0).as_int();
  counts.in_flight = in_flight->gauge().data_points(0).as_int();
  counts.start_time = started->sum().data_points(0).start_time_unix_nano();
  counts.time = started->sum().data_points(0).time_unix_nano();
  return counts;
}

class OtlpExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GrpcServer::Options server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.services = {&receiver_};
    auto server = GrpcServer::Create(server_options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  void TearDown() override {
    exporter_.reset();
    server_->Shutdown(absl::ZeroDuration());
  }

  OtlpExporter::Options Options() {
    OtlpExporter::Options options;
    options.endpoint = "http://" + server_->address();
    options.interval = absl::Seconds(5);
    options.backoff = {/*initial=*/absl::Milliseconds(100),
                       /*max=*/absl::Milliseconds(400), /*multiplier=*/2,
                       /*jitter=*/0};
    options.clock = &clock_;
    options.counters = &counters_;
    options.resource_attributes = {{"service.name", "greet"},
                                   {"tether.service", "greet"},
                                   {"tether.replica", "greet-0"},
                                   {"k8s.pod.name", "greet-abc"}};
    options.headers = {{"authorization", "Bearer s3cret"}};
    return options;
  }

  void Start() { Start(Options()); }
  void Start(OtlpExporter::Options options) {
    auto exporter = OtlpExporter::Create(std::move(options));
    ASSERT_TRUE(exporter.ok()) << exporter.status();
    exporter_ = std::move(*exporter);
  }

  // The exporter's one timed wait ends at `deadline`.
  void ExpectWaitUntil(absl::Time deadline) {
    clock_.AwaitTimedWaiters(1);
    EXPECT_EQ(clock_.DeadlinesForTest(), std::vector<absl::Time>{deadline});
  }

  const absl::Time start_ = absl::FromUnixSeconds(1'700'000'000);
  SimulatedClock clock_{start_};
  ActivityCounters counters_{&clock_};
  FakeOtlpReceiver receiver_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<OtlpExporter> exporter_;
};

TEST_F(OtlpExporterTest, ExportsOnTheIntervalWithResourceAndToken) {
  Start();
  ExpectWaitUntil(start_ + absl::Seconds(5));
  EXPECT_EQ(receiver_.count(), 0u);
  clock_.Advance(absl::Seconds(5));
  const Received first = receiver_.WaitFor(1);
  EXPECT_EQ(first.authorization, "Bearer s3cret");

  const auto& resource_metrics = first.request.resource_metrics(0);
  std::map<std::string, std::string> attributes;
  for (const auto& kv : resource_metrics.resource().attributes()) {
    attributes[kv.key()] = kv.value().string_value();
  }
  EXPECT_EQ(attributes, (std::map<std::string, std::string>{
                            {"service.name", "greet"},
                            {"tether.service", "greet"},
                            {"tether.replica", "greet-0"},
                            {"k8s.pod.name", "greet-abc"}}));
  ASSERT_EQ(resource_metrics.scope_metrics_size(), 1);
  EXPECT_EQ(resource_metrics.scope_metrics(0).scope().name(), "tether-agent");

  const Metric* started = FindMetric(first.request, kCallsStartedMetric);
  ASSERT_NE(started, nullptr);
  EXPECT_EQ(started->unit(), "{call}");
  EXPECT_TRUE(started->sum().is_monotonic());
  EXPECT_EQ(
      started->sum().aggregation_temporality(),
      opentelemetry::proto::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
  ASSERT_EQ(started->sum().data_points_size(), 1);
  EXPECT_EQ(started->sum().data_points(0).value_case(),
            opentelemetry::proto::metrics::v1::NumberDataPoint::kAsInt);
  const Metric* in_flight = FindMetric(first.request, kCallsInFlightMetric);
  ASSERT_NE(in_flight, nullptr);
  EXPECT_TRUE(in_flight->has_gauge());
  EXPECT_EQ(in_flight->gauge().data_points(0).value_case(),
            opentelemetry::proto::metrics::v1::NumberDataPoint::kAsInt);

  const Counts counts = CountsOf(first.request);
  EXPECT_EQ(counts.started, 0);
  EXPECT_EQ(counts.start_time, absl::ToUnixNanos(start_));
  EXPECT_EQ(counts.time, absl::ToUnixNanos(start_ + absl::Seconds(5)));

  // And again one interval later.
  ExpectWaitUntil(start_ + absl::Seconds(10));
  clock_.Advance(absl::Seconds(5));
  receiver_.WaitFor(2);
}

TEST_F(OtlpExporterTest, FirstCallAfterIdleExportsAtOnce) {
  Start();
  ExpectWaitUntil(start_ + absl::Seconds(5));
  counters_.CallStarted();
  // No time passes: the wake-up alone exports.
  const Counts counts = CountsOf(receiver_.WaitFor(1).request);
  EXPECT_EQ(counts.started, 1);
  EXPECT_EQ(counts.in_flight, 1);
  EXPECT_EQ(counts.time, absl::ToUnixNanos(start_));
  // The interval starts over from the wake-up's export.
  ExpectWaitUntil(start_ + absl::Seconds(5));

  // Another call while one runs is not after idle: no extra export.
  counters_.CallStarted();
  counters_.CallFinished();
  counters_.CallFinished();
  EXPECT_EQ(receiver_.count(), 1u);
}

TEST_F(OtlpExporterTest, KeepsExportingWhileACallRunsWithStableStartTime) {
  Start();
  counters_.CallStarted();
  receiver_.WaitFor(1);
  std::vector<Counts> seen;
  for (int i = 2; i <= 4; ++i) {
    ExpectWaitUntil(clock_.Now() + absl::Seconds(5));
    clock_.Advance(absl::Seconds(5));
    seen.push_back(CountsOf(receiver_.WaitFor(i).request));
  }
  for (const Counts& counts : seen) {
    EXPECT_EQ(counts.started, 1);
    EXPECT_EQ(counts.finished, 0);
    EXPECT_EQ(counts.in_flight, 1);
    EXPECT_EQ(counts.start_time, absl::ToUnixNanos(start_));
  }
  EXPECT_LT(seen[0].time, seen[1].time);
  EXPECT_LT(seen[1].time, seen[2].time);

  counters_.CallFinished();
  counters_.CallStarted();  // Not after idle: started since the export.
  counters_.CallFinished();
  ExpectWaitUntil(clock_.Now() + absl::Seconds(5));
  clock_.Advance(absl::Seconds(5));
  const Counts last = CountsOf(receiver_.WaitFor(5).request);
  EXPECT_EQ(last.started, 2);  // Cumulative: never reset between exports.
  EXPECT_EQ(last.finished, 2);
  EXPECT_EQ(last.in_flight, 0);
  EXPECT_EQ(last.start_time, absl::ToUnixNanos(start_));
}

TEST_F(OtlpExporterTest, BacksOffWhileTheReceiverIsDownThenRecovers) {
  receiver_.SetStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  Start();
  counters_.CallStarted();
  receiver_.WaitFor(1);
  ExpectWaitUntil(start_ + absl::Milliseconds(100));
  counters_.CallFinished();
  clock_.Advance(absl::Milliseconds(100));
  // The retry sends the latest counts, not the failed batch.
  EXPECT_EQ(CountsOf(receiver_.WaitFor(2).request).finished, 1);
  ExpectWaitUntil(clock_.Now() + absl::Milliseconds(200));
  receiver_.SetStatus(grpc::Status::OK);
  clock_.Advance(absl::Milliseconds(200));
  receiver_.WaitFor(3);
  // Recovered: back on the interval, and the backoff starts over.
  ExpectWaitUntil(clock_.Now() + absl::Seconds(5));
  receiver_.SetStatus(
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "busy"));
  clock_.Advance(absl::Seconds(5));
  receiver_.WaitFor(4);
  ExpectWaitUntil(clock_.Now() + absl::Milliseconds(100));
  EXPECT_EQ(receiver_.count(), 4u);
}

TEST_F(OtlpExporterTest, OtherErrorsWaitForTheNextInterval) {
  receiver_.SetStatus(
      grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "wrong token"));
  Start();
  counters_.CallStarted();
  receiver_.WaitFor(1);
  ExpectWaitUntil(start_ + absl::Seconds(5));
  clock_.Advance(absl::Seconds(5));
  receiver_.WaitFor(2);
}

TEST_F(OtlpExporterTest, PartialSuccessIsNotAFailure) {
  receiver_.SetRejected(2);
  Start();
  counters_.CallStarted();
  receiver_.WaitFor(1);
  ExpectWaitUntil(start_ + absl::Seconds(5));
}

TEST_F(OtlpExporterTest, ShutdownExportsOnceMore) {
  Start();
  ExpectWaitUntil(start_ + absl::Seconds(5));
  counters_.CallStarted();
  receiver_.WaitFor(1);
  counters_.CallFinished();
  exporter_.reset();
  EXPECT_EQ(receiver_.count(), 2u);
  EXPECT_EQ(CountsOf(receiver_.WaitFor(2).request).finished, 1);
  // The counters no longer wake anything.
  counters_.CallStarted();
  EXPECT_EQ(receiver_.count(), 2u);
}

TEST_F(OtlpExporterTest, CreateRejectsBadOptions) {
  OtlpExporter::Options options = Options();
  options.counters = nullptr;
  EXPECT_EQ(OtlpExporter::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options();
  options.interval = absl::ZeroDuration();
  EXPECT_EQ(OtlpExporter::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options();
  options.headers = {{"Authorization", "x"}};
  EXPECT_EQ(OtlpExporter::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options();
  options.resource_attributes = {{"a", "1"}, {"a", "2"}};
  EXPECT_EQ(OtlpExporter::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options();
  options.endpoint = "grpc://x:1";
  EXPECT_EQ(OtlpExporter::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseOtlpEndpointTest, AcceptsHostPortAndUrls) {
  auto plain = ParseOtlpEndpoint("tetherd.tether:7700");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->target, "tetherd.tether:7700");
  EXPECT_FALSE(plain->tls);

  auto http = ParseOtlpEndpoint("http://collector:4317/");
  ASSERT_TRUE(http.ok()) << http.status();
  EXPECT_EQ(http->target, "collector:4317");
  EXPECT_FALSE(http->tls);

  auto https = ParseOtlpEndpoint("https://otlp.example.com:443");
  ASSERT_TRUE(https.ok()) << https.status();
  EXPECT_EQ(https->target, "otlp.example.com:443");
  EXPECT_TRUE(https->tls);

  auto ipv6 = ParseOtlpEndpoint("http://[::1]:4317");
  ASSERT_TRUE(ipv6.ok()) << ipv6.status();
  EXPECT_EQ(ipv6->target, "[::1]:4317");
}

TEST(ParseOtlpEndpointTest, RejectsOtherForms) {
  for (const char* bad :
       {"", "collector", "collector:", "collector:http", "collector:70000",
        "ftp://collector:21", "http://collector:4318/v1/metrics", ":4317"}) {
    EXPECT_EQ(ParseOtlpEndpoint(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace tether::agent
