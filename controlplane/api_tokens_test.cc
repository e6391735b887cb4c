#include "controlplane/api_tokens.h"

#include <stdlib.h>

#include <string>

#include "common/clock.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

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
  const absl::Status unknown = tokens->Check("Bearer gamma").status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(unknown.message(), "unknown API token");
  EXPECT_EQ(tokens->Check("alpha").status().message(),
            "missing API token: pass --token or set $TETHER_TOKEN");
  EXPECT_FALSE(tokens->Check("").ok());
  EXPECT_FALSE(tokens->Check("Bearer # ops team").ok());
}

TEST_F(ApiTokensTest, ScopesComeFromTheTokensLine) {
  ASSERT_TRUE(WriteFileAtomically(file_,
                                  "root\n"
                                  "a-team namespaces=team-a  # on-call\n"
                                  "two\tnamespaces=team-a,team-b\n"
                                  "svc services=foo,bar namespaces=team-a\n")
                  .ok());
  auto tokens = Create();
  absl::StatusOr<TokenScope> root = tokens->Check("Bearer root");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_TRUE(root->unscoped());
  EXPECT_TRUE(root->Allows("anything", "any"));

  absl::StatusOr<TokenScope> a = tokens->Check("Bearer a-team");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(a->namespaces, ElementsAre("team-a"));
  EXPECT_THAT(a->services, IsEmpty());
  EXPECT_TRUE(a->Allows("team-a", "any"));
  EXPECT_FALSE(a->Allows("team-b", "any"));

  absl::StatusOr<TokenScope> two = tokens->Check("Bearer two");
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_THAT(two->namespaces, ElementsAre("team-a", "team-b"));

  absl::StatusOr<TokenScope> svc = tokens->Check("Bearer svc");
  ASSERT_TRUE(svc.ok()) << svc.status();
  EXPECT_THAT(svc->services, ElementsAre("foo", "bar"));
  EXPECT_TRUE(svc->Allows("team-a", "bar"));
  EXPECT_FALSE(svc->Allows("team-a", "baz"));
  EXPECT_FALSE(svc->Allows("team-b", "foo"));
}

TEST(TokenScopeTest, RefusalsNameWhatIsOutOfScope) {
  TokenScope scope;
  EXPECT_TRUE(scope.Check("x", "y").ok()) << "unscoped";
  scope.namespaces = {"team-a", "team-c"};
  EXPECT_TRUE(scope.Check("team-c", "y").ok());
  absl::Status denied = scope.Check("team-b", "y");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(),
            "namespace team-b: this API token is not allowed to use it (it "
            "may use namespaces team-a,team-c)");
  EXPECT_TRUE(scope.CheckName("y").ok())
      << "without a services list any name passes";
  scope.services = {"foo"};
  denied = scope.Check("team-a", "bar");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(),
            "service bar: this API token is not allowed to use it (it may use "
            "services foo)");
  EXPECT_EQ(scope.CheckName("bar"), denied);
  EXPECT_TRUE(scope.Check("team-a", "foo").ok());
}

TEST(ParseApiTokensTest, MalformedLinesAreRefusedByNumber) {
  const struct {
    const char* text;
    const char* error;
  } kCases[] = {
      {"ok\nsecret part2\n",
       "line 2: expected namespaces=... or services=... after the token "
       "(tokens hold no blanks)"},
      {"t teams=a\n",
       "line 1: unknown field \"teams\"; expected namespaces= or services="},
      {"t secret+Part==\n",
       "line 1: unknown field; expected namespaces= or services="},
      {"t namespaces=\n", "line 1: namespaces= has an empty entry"},
      {"t namespaces=a,,b\n", "line 1: namespaces= has an empty entry"},
      {"t namespaces=a namespaces=b\n", "line 1: namespaces= twice"},
      {"t services=foo\n",
       "line 1: services= needs namespaces= (the namespaces they may be in)"},
      {"# c\n\nt namespaces=Team_A\n",
       "line 3: namespaces=: \"Team_A\" is not a valid namespace: namespaces "
       "are RFC 1123 labels (lowercase letters, digits and '-', starting and "
       "ending with a letter or digit, at most 63 characters)"},
      {"t namespaces=a services=Foo\n",
       "line 1: services=: \"Foo\" is not a valid service name"},
      {"t\nu\nt namespaces=a\n", "line 3: the same token as line 1"},
  };
  for (const auto& c : kCases) {
    const auto parsed = ParseApiTokens(c.text);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(std::string(parsed.status().message()),
                ::testing::StartsWith(c.error))
        << c.text;
    EXPECT_THAT(std::string(parsed.status().message()),
                ::testing::Not(::testing::HasSubstr("secret")));
  }
  const auto empty = ParseApiTokens("# only comments\n\n");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
}

TEST_F(ApiTokensTest, AMalformedFileFailsTheStartAndAReloadKeepsTheLastGood) {
  ASSERT_TRUE(WriteFileAtomically(file_, "good namespaces=a\n").ok());
  auto tokens = Create();
  ASSERT_TRUE(WriteFileAtomically(file_, "good namespaces=b\nbad x=y\n").ok());
  clock_.Advance(absl::Seconds(5));
  absl::StatusOr<TokenScope> scope = tokens->Check("Bearer good");
  ASSERT_TRUE(scope.ok()) << scope.status();
  EXPECT_THAT(scope->namespaces, ElementsAre("a")) << "the last good set";

  ApiTokens::Options options;
  options.file = file_;
  const absl::Status status = ApiTokens::Create(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "API tokens file " + file_ +
                ": line 2: unknown field \"x\"; expected namespaces= or "
                "services=");
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
