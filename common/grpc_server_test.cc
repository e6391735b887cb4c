#include "common/grpc_server.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"

namespace tether {
namespace {

TEST(GrpcServerTest, PortZeroPicksAPortAndResolvesTheAddress) {
  GrpcServer::Options options;
  options.listen_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->address(),
            absl::StrCat("127.0.0.1:", (*server)->port()));
  EXPECT_NE((*server)->server().GetHealthCheckService(), nullptr);
}

TEST(GrpcServerTest, ClientsConnect) {
  GrpcServer::Options options;
  options.listen_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials());
  EXPECT_TRUE(channel->WaitForConnected(
      absl::ToChronoTime(absl::Now() + absl::Seconds(30))));
}

TEST(GrpcServerTest, TakenPortIsUnavailableNamingTheAddress) {
  GrpcServer::Options options;
  options.listen_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<GrpcServer>> first =
      GrpcServer::Create(options);
  ASSERT_TRUE(first.ok()) << first.status();
  options.listen_address = (*first)->address();
  absl::StatusOr<std::unique_ptr<GrpcServer>> second =
      GrpcServer::Create(options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(second.status().message(),
            absl::StrCat("cannot listen on ", (*first)->address()));
}

TEST(GrpcServerTest, UnixSocketHasNoPort) {
  std::string dir = "/tmp/grpc_server_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  GrpcServer::Options options;
  options.listen_address = absl::StrCat("unix:", dir, "/s.sock");
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->port(), 0);
  EXPECT_EQ((*server)->address(), options.listen_address);
  (*server)->Shutdown(absl::ZeroDuration());
  unlink((dir + "/s.sock").c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace tether
