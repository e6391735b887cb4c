#include "tools/cli/client.h"

#include <stdlib.h>

#include <memory>
#include <string>

#include "common/files.h"
#include "common/grpc_status.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"

namespace tether::cli {
namespace {

// Under /tmp: Unix socket paths are limited to 108 bytes and TEST_TMPDIR is
// often longer.
std::string TempDir() {
  std::string tmpl = "/tmp/client_test.XXXXXX";
  return mkdtemp(tmpl.data());
}

// A server on a Unix socket (no TCP port) with or without the health service.
struct TestServer {
  explicit TestServer(bool health) {
    grpc::EnableDefaultHealthCheckService(health);
    address = "unix:" + dir + "/s.sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    server = builder.BuildAndStart();
    grpc::EnableDefaultHealthCheckService(false);
  }
  ~TestServer() {
    if (server != nullptr) server->Shutdown();
    RemoveAll(dir).IgnoreError();
  }
  std::string dir = TempDir();
  std::string address;
  std::unique_ptr<grpc::Server> server;
};

TEST(CheckHealthTest, ServingServer) {
  TestServer server(/*health=*/true);
  ASSERT_NE(server.server, nullptr);
  EXPECT_TRUE(
      CheckHealth(*NewChannel(server.address, {}), absl::Seconds(10), "").ok());
}

TEST(CheckHealthTest, NotServingIsUnavailable) {
  TestServer server(/*health=*/true);
  server.server->GetHealthCheckService()->SetServingStatus(false);
  absl::Status status =
      CheckHealth(*NewChannel(server.address, {}), absl::Seconds(10), "t");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "the health check says NOT_SERVING");
}

TEST(CheckHealthTest, AServerWithoutHealthServiceStillAnswers) {
  TestServer server(/*health=*/false);
  EXPECT_TRUE(
      CheckHealth(*NewChannel(server.address, {}), absl::Seconds(10), "").ok());
}

TEST(DialTest, DoesNotContactTetherd) {
  const std::string dir = TempDir();
  std::unique_ptr<Connection> connection =
      *Dial("unix:" + dir + "/nobody.sock", "secret", {});
  EXPECT_EQ(connection->address, "unix:" + dir + "/nobody.sock");
  EXPECT_EQ(connection->token, "secret");
  EXPECT_NE(connection->stub, nullptr);
  EXPECT_EQ(connection->channel->GetState(/*try_to_connect=*/false),
            GRPC_CHANNEL_IDLE);
  RemoveAll(dir).IgnoreError();
}

TEST(ExplainTest, FailedConnectionSaysTetherdIsUnreachable) {
  const std::string dir = TempDir();
  const std::string address = "unix:" + dir + "/nobody.sock";
  std::unique_ptr<Connection> connection = *Dial(address, "", {});
  grpc::ClientContext context;
  tether::v1::ListServicesResponse response;
  const absl::Status status = connection->Explain(
      FromGrpcStatus(connection->stub->ListServices(&context, {}, &response)));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  const std::string message(status.message());
  EXPECT_EQ(message.rfind("cannot reach tetherd at " + address + ": ", 0), 0u)
      << message;
  EXPECT_NE(message.find("(start it with 'tether up')"), std::string::npos)
      << message;
  RemoveAll(dir).IgnoreError();
}

TEST(ExplainTest, TetherdsOwnErrorsPassThrough) {
  TestServer server(/*health=*/true);
  std::unique_ptr<Connection> connection = *Dial(server.address, "", {});
  // The server has no ControlPlane: it answers UNIMPLEMENTED, so the
  // channel is READY afterwards.
  grpc::ClientContext context;
  tether::v1::ListServicesResponse response;
  ASSERT_EQ(
      connection->stub->ListServices(&context, {}, &response).error_code(),
      grpc::StatusCode::UNIMPLEMENTED);
  const absl::Status busy = absl::UnavailableError("no replica is ready");
  EXPECT_EQ(connection->Explain(busy), busy);
  EXPECT_TRUE(connection->Explain(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace tether::cli
