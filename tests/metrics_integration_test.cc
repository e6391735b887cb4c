// tetherd in-process with its HTTP server on port 0: a deploy with a real
// agent and a call show up in /metrics, the probes answer, and a delete
// removes the service's series.

#include <chrono>
#include <memory>
#include <string>

#include "common/http_test_client.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sync/uploader.h"
#include "tests/in_process_tetherd.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

TEST(MetricsIntegrationTest, TetherdServesProbesAndCountsDeploysAndCalls) {
  controlplane::Tetherd::Options options;
  options.http_listen_address = "127.0.0.1:0";
  auto tetherd = InProcessTetherd::Start(NewTempDir("state"), options);
  ASSERT_TRUE(tetherd.ok()) << tetherd.status();
  const int port = (*tetherd)->tetherd().http_port();
  ASSERT_NE(port, 0);
  EXPECT_THAT(HttpRequest(port, "/healthz"), StartsWith("HTTP/1.1 200 OK"));
  EXPECT_THAT(HttpRequest(port, "/readyz"), StartsWith("HTTP/1.1 200 OK"));

  const std::string code = NewTempDir("code");
  WriteTree(code, {{"app.py", "def greet(name):\n    return 'hi ' + name\n"}});
  auto uploaded =
      sync::UploadTree((*tetherd)->stub(), code, sync::UploadOptions());
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  tether::v1::ServiceSpec spec;
  spec.set_name("greet");
  spec.mutable_compute()->set_replicas(1);
  spec.mutable_callable()->set_module("app");
  spec.mutable_callable()->set_name("greet");
  const grpc::Status deployed =
      (*tetherd)->Deploy(spec, uploaded->result.revision());
  ASSERT_TRUE(deployed.ok()) << deployed.error_message();

  tether::v1::CallRequest request;
  request.set_service("greet");
  request.set_payload(R"({"args": ["Ada"]})");
  tether::v1::CallResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  const grpc::Status called =
      (*tetherd)->stub().Call(&context, request, &response);
  ASSERT_TRUE(called.ok()) << called.error_message();
  // A streamed call through tetherd is counted as a call too.
  grpc::ClientContext stream_context;
  stream_context.set_deadline(std::chrono::system_clock::now() +
                              std::chrono::seconds(30));
  auto stream = (*tetherd)->stub().CallStream(&stream_context, request);
  tether::v1::InvokeEvent event;
  while (stream->Read(&event)) {
  }
  const grpc::Status streamed = stream->Finish();
  ASSERT_TRUE(streamed.ok()) << streamed.error_message();

  const std::string reply = HttpRequest(port, "/metrics");
  EXPECT_THAT(reply, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  const std::string text = HttpBody(reply);
  EXPECT_THAT(text, HasSubstr("tether_calls_total{outcome=\"ok\",service="
                              "\"greet\"} 2\n"));
  EXPECT_THAT(
      text,
      HasSubstr("tether_call_duration_seconds_count{service=\"greet\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("tether_calls_in_flight{service=\"greet\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("tether_deploys_total{outcome=\"ok\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("tether_attached_agents 1\n"));

  grpc::ClientContext delete_context;
  tether::v1::DeleteServiceRequest delete_request;
  delete_request.set_name("greet");
  tether::v1::DeleteServiceResponse delete_response;
  const grpc::Status deleted = (*tetherd)->stub().DeleteService(
      &delete_context, delete_request, &delete_response);
  ASSERT_TRUE(deleted.ok()) << deleted.error_message();
  EXPECT_THAT(HttpBody(HttpRequest(port, "/metrics")),
              Not(HasSubstr("service=\"greet\"")));
}

}  // namespace
}  // namespace tether::testing
