#include "controlplane/api_authorizer.h"

#include <memory>
#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace tether::controlplane {
namespace {

// "api" is recorded in team-a; nothing else exists.
std::optional<std::string> NamespaceOf(const std::string& name) {
  if (name == "api") return "team-a";
  return std::nullopt;
}

TEST(ApiAuthorizerTest, AnOpenApiLetsEveryoneUseEveryService) {
  const ApiAuthorizer authorizer(nullptr, NamespaceOf);
  grpc::ServerContext context;
  absl::StatusOr<TokenScope> scope = authorizer.Scope(context);
  ASSERT_TRUE(scope.ok()) << scope.status();
  EXPECT_TRUE(scope->unscoped());
  EXPECT_TRUE(authorizer.CheckService(*scope, "api").ok());
  EXPECT_TRUE(authorizer.Allows(*scope, "api"));
  // Only recorded services take reports.
  EXPECT_FALSE(authorizer.Allows(*scope, "ghost"));
}

TEST(ApiAuthorizerTest, AScopeIsJudgedByTheRecordedNamespace) {
  const ApiAuthorizer authorizer(nullptr, NamespaceOf);
  TokenScope team_b;
  team_b.namespaces = {"team-b"};
  EXPECT_EQ(authorizer.CheckService(team_b, "api").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(authorizer.Allows(team_b, "api"));
  // An unknown service is judged by its name only: NOT_FOUND comes later.
  EXPECT_TRUE(authorizer.CheckService(team_b, "ghost").ok());

  TokenScope team_a;
  team_a.namespaces = {"team-a"};
  EXPECT_TRUE(authorizer.CheckService(team_a, "api").ok());
  EXPECT_TRUE(authorizer.Allows(team_a, "api"));
  team_a.services = {"worker"};
  EXPECT_EQ(authorizer.CheckService(team_a, "api").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(authorizer.CheckService(team_a, "ghost").code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace tether::controlplane
