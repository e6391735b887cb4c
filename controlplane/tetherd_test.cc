#include "controlplane/tetherd.h"

#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "common/files.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

class TetherdTest : public ::testing::Test {
 protected:
  TetherdTest() {
    std::string tmpl =
        std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
        "/tetherd_test.XXXXXX";
    dir_ = mkdtemp(tmpl.data());
    options_.listen_address = "127.0.0.1:0";
    options_.state_dir = dir_ + "/state";
  }
  ~TetherdTest() override { RemoveAll(dir_).IgnoreError(); }

  std::string dir_;
  Tetherd::Options options_;
};

TEST_F(TetherdTest, ServesAndWritesThenRemovesTheProcessFiles) {
  absl::StatusOr<std::unique_ptr<Tetherd>> tetherd = Tetherd::Create(options_);
  ASSERT_TRUE(tetherd.ok()) << tetherd.status();
  EXPECT_TRUE(absl::StartsWith((*tetherd)->address(), "127.0.0.1:"));
  absl::StatusOr<std::string> endpoint =
      ReadFile(options_.state_dir + "/tetherd.endpoint");
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_EQ(*endpoint, (*tetherd)->address());
  EXPECT_EQ(ReadFile(options_.state_dir + "/tetherd.pid").value_or(""),
            std::to_string(getpid()));

  (*tetherd)->Shutdown();
  EXPECT_NE(access((options_.state_dir + "/tetherd.endpoint").c_str(), F_OK),
            0);
  EXPECT_NE(access((options_.state_dir + "/tetherd.pid").c_str(), F_OK), 0);
}

TEST_F(TetherdTest, UnknownBackendIsInvalidArgument) {
  options_.backend = "nomad";
  absl::StatusOr<std::unique_ptr<Tetherd>> tetherd = Tetherd::Create(options_);
  EXPECT_EQ(tetherd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tetherd.status().message(),
            "--backend=nomad is not supported; use local or kubernetes");
}

TEST_F(TetherdTest, StateDirThatCannotBeCreatedIsInvalidArgument) {
  // Under a regular file: no directory can exist there, even for root.
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/file", "").ok());
  options_.state_dir = dir_ + "/file/state";
  absl::StatusOr<std::unique_ptr<Tetherd>> tetherd = Tetherd::Create(options_);
  EXPECT_EQ(tetherd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(tetherd.status().message(), "--state_dir: "))
      << tetherd.status();
}

TEST_F(TetherdTest, UnreadableApiTokensFileIsInvalidArgument) {
  options_.api_tokens_file = dir_ + "/no-such-tokens";
  absl::StatusOr<std::unique_ptr<Tetherd>> tetherd = Tetherd::Create(options_);
  EXPECT_EQ(tetherd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StartsWith(tetherd.status().message(), "--api_tokens_file: "))
      << tetherd.status();
}

TEST_F(TetherdTest, PodPolicyFileIsCheckedBeforeTheCluster) {
  options_.pod_policy_file = dir_ + "/policy.yaml";
  absl::StatusOr<std::unique_ptr<Tetherd>> tetherd = Tetherd::Create(options_);
  EXPECT_EQ(tetherd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tetherd.status().message(),
            "--pod_policy_file: only for --backend=kubernetes");
  // A bad file fails the start even before the kubeconfig is read.
  ASSERT_TRUE(
      WriteFileAtomically(options_.pod_policy_file, "allow_root: true\n").ok());
  options_.backend = "kubernetes";
  tetherd = Tetherd::Create(options_);
  EXPECT_EQ(tetherd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(
      tetherd.status().message(),
      "--pod_policy_file: INVALID_ARGUMENT: " + options_.pod_policy_file +
          ": allow_root: unknown field"))
      << tetherd.status();
}

TEST_F(TetherdTest, TakenPortIsUnavailableAndLeavesTheServingTetherdAlone) {
  absl::StatusOr<std::unique_ptr<Tetherd>> first = Tetherd::Create(options_);
  ASSERT_TRUE(first.ok()) << first.status();
  Tetherd::Options second_options = options_;
  second_options.listen_address = (*first)->address();
  absl::StatusOr<std::unique_ptr<Tetherd>> second =
      Tetherd::Create(second_options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(second.status().message(),
            "cannot listen on " + (*first)->address());
  EXPECT_EQ(ReadFile(options_.state_dir + "/tetherd.endpoint").value_or(""),
            (*first)->address());
}

}  // namespace
}  // namespace tether::controlplane
