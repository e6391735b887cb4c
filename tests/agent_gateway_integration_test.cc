// The agents' side of tetherd as an attacker holding one service's agent
// token sees it: it may pull only that service's code, and cannot tell
// which other services exist.

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/in_process_tetherd.h"
#include "tests/service_test_util.h"
#include "tether/v1/agent.grpc.pb.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {
namespace {

class AgentGatewayIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tetherd = InProcessTetherd::Start(NewTempDir("state"), {});
    ASSERT_TRUE(tetherd.ok()) << tetherd.status();
    tetherd_ = *std::move(tetherd);
    gateway_ = tether::v1::AgentGateway::NewStub(grpc::CreateChannel(
        tetherd_->address(), grpc::InsecureChannelCredentials()));
    revision_a_ = DeployWith("a", "def greet(name):\n    return 'a'\n");
    revision_b_ = DeployWith("b", "def greet(name):\n    return 'b'\n");
  }

  // Deploys service `name` from its own code; returns the revision.
  std::string DeployWith(const std::string& name, const std::string& code) {
    const std::string dir = NewTempDir(name);
    WriteTree(dir, {{"app.py", code}});
    std::string revision = UploadDir(*tetherd_, dir);
    const grpc::Status deployed =
        tetherd_->Deploy(PythonSpec(name, "greet"), revision);
    EXPECT_TRUE(deployed.ok()) << deployed.error_message();
    return revision;
  }

  grpc::Status Pull(const std::string& token, const std::string& revision,
                    const std::string& base = "") {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    tether::v1::PullCodeRequest request;
    request.set_revision(revision);
    request.set_base_revision(base);
    auto reader = gateway_->PullCode(&context, request);
    tether::v1::PullCodeResponse response;
    while (reader->Read(&response)) {
    }
    return reader->Finish();
  }

  grpc::Status Attach(const std::string& token, const std::string& service) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    auto stream = gateway_->Attach(&context);
    tether::v1::AgentMessage hello;
    hello.mutable_hello()->set_service(service);
    hello.mutable_hello()->set_replica(service + "-0");
    stream->Write(hello);
    stream->WritesDone();
    tether::v1::AgentCommand command;
    while (stream->Read(&command)) {
    }
    return stream->Finish();
  }

  std::unique_ptr<InProcessTetherd> tetherd_;
  std::unique_ptr<tether::v1::AgentGateway::Stub> gateway_;
  std::string revision_a_;
  std::string revision_b_;
};

TEST_F(AgentGatewayIntegrationTest, ATokenPullsOnlyItsOwnServicesCode) {
  const std::string token_a = tetherd_->ServiceToken("a");
  EXPECT_TRUE(Pull(token_a, revision_a_).ok());
  const grpc::Status other = Pull(token_a, revision_b_);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(other.error_message(),
            "service a's agents may pull only its own revisions");
  // A revision that does not exist answers the same.
  EXPECT_EQ(Pull(token_a, std::string(64, 'f')).error_message(),
            other.error_message());
  // Another service's revision as the base is ignored, not used for deltas.
  EXPECT_TRUE(Pull(token_a, revision_a_, revision_b_).ok());
  EXPECT_EQ(Pull("no-such-token", revision_a_).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AgentGatewayIntegrationTest, AttachDoesNotTellWhichServicesExist) {
  const grpc::Status unknown = Attach(tetherd_->ServiceToken("a"), "nope");
  const grpc::Status other = Attach(tetherd_->ServiceToken("a"), "b");
  const grpc::Status guessed = Attach("guess", "b");
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(guessed.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(unknown.error_message(),
            "the token is not service nope's agent token");
  EXPECT_EQ(other.error_message(), "the token is not service b's agent token");
  EXPECT_EQ(guessed.error_message(), other.error_message());
}

}  // namespace
}  // namespace tether::testing
