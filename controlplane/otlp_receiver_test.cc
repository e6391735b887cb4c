#include "controlplane/otlp_receiver.h"

#include <fstream>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/grpc_server.h"
#include "common/raw_unary_call.h"
#include "controlplane/activity_tracker.h"
#include "controlplane/api_authorizer.h"
#include "controlplane/api_tokens.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

namespace collector = opentelemetry::proto::collector::metrics::v1;
namespace metrics = opentelemetry::proto::metrics::v1;

constexpr absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

// A real receiver on a loopback port, called through a real channel.
class OtlpReceiverTest : public ::testing::Test {
 protected:
  OtlpReceiverTest() : clock_(kStart), tracker_({&clock_, absl::Minutes(1)}) {}

  void Start(bool with_api_tokens) {
    if (with_api_tokens) {
      const std::string file = ::testing::TempDir() + "/otlp_api_tokens";
      std::ofstream(file) << "operator-token\n"
                          << "team-b-token namespaces=team-b\n";
      ApiTokens::Options options;
      options.file = file;
      api_tokens_ = *ApiTokens::Create(options);
    }
    OtlpReceiver::Options options;
    options.activity = &tracker_;
    options.service_for_token =
        [](const std::string& token) -> std::optional<std::string> {
      if (token == "agent-token") return "hello";
      return std::nullopt;
    };
    authorizer_ = std::make_unique<ApiAuthorizer>(
        api_tokens_.get(),
        [](const std::string& s) -> std::optional<std::string> {
          if (s == "hello") return "team-a";
          return std::nullopt;
        });
    options.authorizer = authorizer_.get();
    receiver_ = std::make_unique<OtlpReceiver>(options);
    GrpcServer::Options server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.services = {receiver_.get()};
    server_ = *GrpcServer::Create(server_options);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = collector::MetricsService::NewStub(channel_);
  }

  static collector::ExportMetricsServiceRequest OneCall(
      const char* service_attribute = nullptr) {
    collector::ExportMetricsServiceRequest request;
    metrics::ResourceMetrics* resource = request.add_resource_metrics();
    if (service_attribute != nullptr) {
      auto* attribute = resource->mutable_resource()->add_attributes();
      attribute->set_key("tether.service");
      attribute->mutable_value()->set_string_value(service_attribute);
    }
    metrics::Metric* metric = resource->add_scope_metrics()->add_metrics();
    metric->set_name("tether.calls.started");
    metric->mutable_sum()->set_is_monotonic(true);
    metric->mutable_sum()->set_aggregation_temporality(
        metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
    metric->mutable_sum()->add_data_points()->set_as_int(1);
    return request;
  }

  grpc::Status Export(const collector::ExportMetricsServiceRequest& request,
                      const std::string& token,
                      collector::ExportMetricsServiceResponse* response) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    return stub_->Export(&context, request, response);
  }

  SimulatedClock clock_;
  ActivityTracker tracker_;
  std::unique_ptr<ApiTokens> api_tokens_;
  std::unique_ptr<ApiAuthorizer> authorizer_;
  std::unique_ptr<OtlpReceiver> receiver_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<collector::MetricsService::Stub> stub_;
};

TEST_F(OtlpReceiverTest, AnAgentsReportIsBoundToItsService) {
  Start(/*with_api_tokens=*/true);
  collector::ExportMetricsServiceResponse response;
  const grpc::Status status = Export(OneCall(), "agent-token", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.has_partial_success());
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart);
}

TEST_F(OtlpReceiverTest, AnEmptyRequestIsOk) {
  Start(true);
  collector::ExportMetricsServiceResponse response;
  EXPECT_TRUE(Export({}, "agent-token", &response).ok());
  EXPECT_FALSE(response.has_partial_success());
}

TEST_F(OtlpReceiverTest, UnusedDataIsAPartialSuccess) {
  Start(true);
  collector::ExportMetricsServiceResponse response;
  const grpc::Status status =
      Export(OneCall("other"), "agent-token", &response);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(response.partial_success().rejected_data_points(), 1);
  EXPECT_NE(response.partial_success().error_message(), "");
}

TEST_F(OtlpReceiverTest, StrangersAreUnauthenticatedOperatorsAreTrusted) {
  Start(true);
  collector::ExportMetricsServiceResponse response;
  EXPECT_EQ(Export(OneCall("hello"), "", &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Export(OneCall("hello"), "guess", &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(tracker_.LastActivity("hello"), absl::InfinitePast());
  ASSERT_TRUE(Export(OneCall("hello"), "operator-token", &response).ok());
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart);
}

TEST_F(OtlpReceiverTest, AScopedTokenReportsOnlyForItsOwnServices) {
  Start(true);
  collector::ExportMetricsServiceResponse response;
  ASSERT_TRUE(Export(OneCall("hello"), "team-b-token", &response).ok());
  EXPECT_EQ(response.partial_success().rejected_data_points(), 1);
  EXPECT_EQ(tracker_.LastActivity("hello"), absl::InfinitePast())
      << "team B's token kept team A's service awake";
}

TEST_F(OtlpReceiverTest, WithoutApiTokensResourcesNameTheService) {
  Start(false);
  collector::ExportMetricsServiceResponse response;
  ASSERT_TRUE(Export(OneCall("hello"), "", &response).ok());
  EXPECT_EQ(tracker_.LastActivity("hello"), kStart);
}

TEST_F(OtlpReceiverTest, BytesThatAreNotARequestAreInvalidArgument) {
  Start(true);
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer agent-token");
  const grpc::Status status = RawUnaryCall(
      channel_, context,
      "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
      "\xff\xff\xff\xff");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
}

}  // namespace
}  // namespace tether::controlplane
