#include "tools/cli/client.h"

#include <stdlib.h>

#include <memory>
#include <string>

#include "common/files.h"
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
      CheckHealth(NewChannel(server.address), absl::Seconds(10), "").ok());
}

TEST(CheckHealthTest, NotServingIsUnavailable) {
  TestServer server(/*health=*/true);
  server.server->GetHealthCheckService()->SetServingStatus(false);
  absl::Status status =
      CheckHealth(NewChannel(server.address), absl::Seconds(10), "t");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "the health check says NOT_SERVING");
}

TEST(CheckHealthTest, AServerWithoutHealthServiceStillAnswers) {
  TestServer server(/*health=*/false);
  EXPECT_TRUE(
      CheckHealth(NewChannel(server.address), absl::Seconds(10), "").ok());
}

TEST(DialTest, ReachesAServer) {
  TestServer server(/*health=*/true);
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      Dial(server.address, "secret", absl::Seconds(10));
  ASSERT_TRUE(connection.ok()) << connection.status();
  EXPECT_EQ((*connection)->address, server.address);
  EXPECT_EQ((*connection)->token, "secret");
  EXPECT_NE((*connection)->stub, nullptr);
}

TEST(DialTest, NothingListeningIsUnavailableWithAHint) {
  const std::string dir = TempDir();
  const std::string address = "unix:" + dir + "/nobody.sock";
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      Dial(address, "", absl::Seconds(10));
  EXPECT_EQ(connection.status().code(), absl::StatusCode::kUnavailable);
  const std::string message(connection.status().message());
  EXPECT_EQ(message.rfind("cannot reach tetherd at " + address + ": ", 0), 0u)
      << message;
  EXPECT_NE(message.find("(start it with 'tether up')"), std::string::npos)
      << message;
  RemoveAll(dir).IgnoreError();
}

}  // namespace
}  // namespace tether::cli
