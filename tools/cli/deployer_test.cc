#include "tools/cli/deployer.h"

#include <limits.h>
#include <stdlib.h>

#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "common/files.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tools/cli/fake_control_plane.h"

namespace tether::cli {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1704164645);

std::string TempDir() {
  std::string tmpl =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/deployer_test.XXXXXX";
  char resolved[PATH_MAX];
  EXPECT_NE(realpath(mkdtemp(tmpl.data()), resolved), nullptr);
  return resolved;
}

tether::v1::ServiceSpec Spec() {
  tether::v1::ServiceSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(name: "hello"
           callable { module: "hello" name: "greet" })pb",
      &spec));
  return spec;
}

class DeployerTest : public ::testing::Test {
 protected:
  DeployerTest() {
    EXPECT_TRUE(WriteFileAtomically(dir_ + "/hello.py", "x = 1\n").ok());
    fake_.SetSyncRevision(std::string(64, 'a'));
  }
  const std::string dir_ = TempDir();
  FakeControlPlane fake_;
  std::unique_ptr<Connection> conn_ = fake_.Connect();
  // The fake control plane takes full manifests only.
  Deployer deployer_{*conn_, [] { return kNow; },
                     sync::UploadOptions{.use_cache = false}};
};

TEST_F(DeployerTest, UploadsThenDeploysTheRevision) {
  tether::v1::DeployEvent ready;
  ready.set_stage(tether::v1::DeployEvent::STAGE_READY);
  fake_.SetDeploy({ready}, grpc::Status::OK);
  std::ostringstream lines, events;
  absl::StatusOr<std::string> revision = deployer_.UploadAndDeploy(
      Spec(), dir_, kNow, DeployOutput{&lines, &events, /*json_events=*/true});
  ASSERT_TRUE(revision.ok()) << revision.status();
  EXPECT_EQ(*revision, std::string(64, 'a'));
  EXPECT_EQ(lines.str(), "synced " + dir_ +
                             ": revision aaaaaaaaaaaa, 1 file, sent 1 new "
                             "(6 B) in 0.00s\n"
                             "service hello ready at revision aaaaaaaaaaaa (1 "
                             "replica) in 0.00s\n");
  EXPECT_EQ(events.str(), "{\"stage\":\"STAGE_READY\"}\n");
  ASSERT_EQ(fake_.deploys().size(), 1u);
  EXPECT_EQ(fake_.deploys()[0].revision(), std::string(64, 'a'));
}

TEST_F(DeployerTest, UploadErrorsNameTheDirectory) {
  absl::StatusOr<sync::UploadResult> upload =
      deployer_.Upload(dir_ + "/missing");
  EXPECT_EQ(upload.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(
      upload.status().message().rfind("uploading " + dir_ + "/missing: ", 0),
      0u)
      << upload.status();
}

TEST_F(DeployerTest, CancelEndsADeployInFlightAndLaterOnes) {
  fake_.HoldDeploysFrom(1);
  std::thread canceller([this] {
    ASSERT_TRUE(fake_.AwaitDeploys(1, absl::Seconds(20)));
    deployer_.Cancel();
  });
  absl::Status status = deployer_.Deploy(Spec(), std::string(64, 'a'), nullptr);
  canceller.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(deployer_.Deploy(Spec(), std::string(64, 'a'), nullptr).code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(fake_.deploys().size(), 1u);
}

TEST_F(DeployerTest, ADeployThatOutlastsTheTimeoutSaysHowToFollowIt) {
  fake_.HoldDeploysFrom(1);
  Deployer deployer(
      *conn_, [] { return absl::Now(); },
      sync::UploadOptions{.use_cache = false});
  const absl::Status status = deployer.Deploy(Spec(), std::string(64, 'a'),
                                              nullptr, absl::Milliseconds(200));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_EQ(status.message(),
            "service hello is not ready after 200ms; tetherd goes on "
            "deploying it: see 'tether status hello'");
}

}  // namespace
}  // namespace tether::cli
