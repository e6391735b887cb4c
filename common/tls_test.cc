#include "common/tls.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/raw_unary_call.h"
#include "common/test_util.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/auth_context.h"
#include "gtest/gtest.h"

namespace tether {
namespace {

// A gRPC health call: enough to complete a handshake and read the peer's
// certificate.
constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(getenv("TEST_TMPDIR"), "/certs");
    MakeCerts();
  }

  // (Re)issues the leaves in dir_, signed by its CA.
  void MakeCerts() { ASSERT_TRUE(testing::MakeCertificates(dir_)); }

  std::string File(const std::string& name) const {
    return absl::StrCat(dir_, "/", name);
  }

  // A server with the health service on loopback, port 0.
  std::unique_ptr<grpc::Server> Serve(const TlsFiles& files) {
    grpc::EnableDefaultHealthCheckService(true);
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        GrpcServerCredentials(files);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *credentials, &port_);
    return builder.BuildAndStart();
  }

  // The status of a health check over a new channel, and in `peer_pem` the
  // certificate the server presented.
  grpc::Status Check(const TlsFiles& files, const std::string& server_name,
                     std::string* peer_pem = nullptr) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        GrpcChannelCredentials(files);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    grpc::ChannelArguments args;
    SetTlsServerName(server_name, args);
    auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_),
                                             *credentials, args);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    const grpc::Status status =
        RawUnaryCall(channel, context, kHealthCheck, "");
    if (peer_pem != nullptr && context.auth_context() != nullptr) {
      for (const grpc::string_ref& value :
           context.auth_context()->FindPropertyValues(
               GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
        *peer_pem = std::string(value.data(), value.size());
      }
    }
    return status;
  }

  TlsFiles ServerFiles() const {
    return {File("tetherd.crt"), File("tetherd.key"), "", absl::Seconds(1)};
  }
  TlsFiles ClientFiles() const { return {"", "", File("ca.crt")}; }

  std::string dir_;
  int port_ = 0;
};

TEST_F(TlsTest, EmptyFilesMeanPlaintext) {
  auto server = Serve({});
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(Check({}, "").ok());
}

TEST_F(TlsTest, VerifiesTheServerAgainstTheCa) {
  auto server = Serve(ServerFiles());
  ASSERT_NE(server, nullptr);
  std::string peer;
  const grpc::Status status = Check(ClientFiles(), "", &peer);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(peer, ReadFile(File("tetherd.crt")));
  // Plaintext to a TLS port does not get through.
  EXPECT_EQ(Check({}, "").error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, RefusesAServerSignedByAnotherCa) {
  const std::string other = absl::StrCat(getenv("TEST_TMPDIR"), "/other");
  ASSERT_TRUE(testing::MakeCertificates(other));
  auto server = Serve(ServerFiles());
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Check({"", "", other + "/ca.crt"}, "").error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, ChecksTheServerName) {
  // The agents' certificate names tether-agent, not 127.0.0.1.
  auto server =
      Serve({File("agent.crt"), File("agent.key"), "", absl::Seconds(1)});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Check(ClientFiles(), "").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Check(ClientFiles(), "someone-else").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  const grpc::Status named = Check(ClientFiles(), "tether-agent");
  EXPECT_TRUE(named.ok()) << named.error_message();
}

TEST_F(TlsTest, AServerWithACaRequiresClientCertificates) {
  TlsFiles server_files = ServerFiles();
  server_files.ca_file = File("ca.crt");
  auto server = Serve(server_files);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Check(ClientFiles(), "").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  TlsFiles client = ClientFiles();
  client.cert_file = File("client.crt");
  client.key_file = File("client.key");
  const grpc::Status status = Check(client, "");
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(TlsTest, NewConnectionsGetARotatedCertificate) {
  auto server = Serve(ServerFiles());
  ASSERT_NE(server, nullptr);
  const std::string first = ReadFile(File("tetherd.crt"));
  MakeCerts();
  const std::string second = ReadFile(File("tetherd.crt"));
  ASSERT_NE(first, second);
  std::string peer;
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Check(ClientFiles(), "", &peer).ok() && peer == second; },
      absl::Seconds(10)))
      << "still serving the first certificate";
}

TEST_F(TlsTest, BadFilesAreNamed) {
  const std::string missing = File("missing.pem");
  absl::Status status =
      GrpcServerCredentials({missing, File("tetherd.key")}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), missing)) << status;

  status =
      GrpcServerCredentials({File("tetherd.crt"), File("agent.key")}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "does not match")) << status;

  status = GrpcChannelCredentials({"", "", File("tetherd.key")}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "tetherd.key")) << status;

  EXPECT_EQ(GrpcServerCredentials({"", "", File("ca.crt")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GrpcChannelCredentials({File("client.crt"), File("client.key"), ""})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GrpcServerCredentials({File("tetherd.crt"), ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether
