#include "controlplane/api_tokens.h"

#include <stdlib.h>

#include "common/clock.h"
#include "common/files.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

class ApiTokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::string(getenv("TEST_TMPDIR")) + "/tokens.XXXXXX";
    file_ = std::string(mkdtemp(tmpl.data())) + "/tokens";
  }

  std::unique_ptr<ApiTokens> Create() {
    ApiTokens::Options options;
    options.file = file_;
    options.clock = &clock_;
    auto tokens = ApiTokens::Create(options);
    EXPECT_TRUE(tokens.ok()) << tokens.status();
    return tokens.ok() ? *std::move(tokens) : nullptr;
  }

  std::string file_;
  SimulatedClock clock_{absl::UnixEpoch()};
};

TEST_F(ApiTokensTest, AcceptsListedBearerTokensOnly) {
  ASSERT_TRUE(
      WriteFileAtomically(file_, "# ops team\nalpha\n\n  beta  \n").ok());
  auto tokens = Create();
  EXPECT_TRUE(tokens->Check("Bearer alpha").ok());
  EXPECT_TRUE(tokens->Check("Bearer beta").ok());
  const absl::Status unknown = tokens->Check("Bearer gamma");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(unknown.message(), "unknown API token");
  EXPECT_EQ(tokens->Check("alpha").message(),
            "missing API token: pass --token or set $TETHER_TOKEN");
  EXPECT_FALSE(tokens->Check("").ok());
  EXPECT_FALSE(tokens->Check("Bearer # ops team").ok());
}

TEST_F(ApiTokensTest, ARotatedFileTakesEffectAfterTheRecheck) {
  ASSERT_TRUE(WriteFileAtomically(file_, "old\n").ok());
  auto tokens = Create();
  ASSERT_TRUE(WriteFileAtomically(file_, "new\n").ok());
  EXPECT_TRUE(tokens->Check("Bearer old").ok()) << "not rechecked yet";
  clock_.Advance(absl::Seconds(5));
  EXPECT_TRUE(tokens->Check("Bearer new").ok());
  EXPECT_FALSE(tokens->Check("Bearer old").ok());

  // A broken rotation keeps the last good tokens.
  ASSERT_TRUE(WriteFileAtomically(file_, "# nothing\n").ok());
  clock_.Advance(absl::Seconds(5));
  EXPECT_TRUE(tokens->Check("Bearer new").ok());
}

TEST_F(ApiTokensTest, AMissingOrEmptyFileFailsTheStart) {
  ApiTokens::Options options;
  options.file = file_;
  EXPECT_EQ(ApiTokens::Create(options).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(WriteFileAtomically(file_, "\n# none\n").ok());
  const auto status = ApiTokens::Create(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "API tokens file " + file_ + " holds no token");
}

}  // namespace
}  // namespace tether::controlplane
