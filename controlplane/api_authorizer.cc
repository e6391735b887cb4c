#include "controlplane/api_authorizer.h"

#include "common/status_macros.h"
#include "controlplane/authorization.h"

namespace tether::controlplane {

absl::StatusOr<TokenScope> ApiAuthorizer::Scope(
    const grpc::ServerContextBase& context) const {
  if (tokens_ == nullptr) return TokenScope();
  return tokens_->Check(AuthorizationOf(context));
}

absl::Status ApiAuthorizer::CheckService(const TokenScope& scope,
                                         const std::string& name) const {
  if (scope.unscoped()) return absl::OkStatus();
  const std::optional<std::string> ns = namespace_of_(name);
  return ns.has_value() ? scope.Check(*ns, name) : scope.CheckName(name);
}

absl::Status ApiAuthorizer::Authorize(const grpc::ServerContextBase& context,
                                      const std::string& name) const {
  ASSIGN_OR_RETURN(const TokenScope scope, Scope(context));
  return CheckService(scope, name);
}

bool ApiAuthorizer::Allows(const TokenScope& scope,
                           const std::string& name) const {
  const std::optional<std::string> ns = namespace_of_(name);
  return ns.has_value() && scope.Allows(*ns, name);
}

}  // namespace tether::controlplane
