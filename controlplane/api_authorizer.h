#ifndef TETHER_CONTROLPLANE_API_AUTHORIZER_H_
#define TETHER_CONTROLPLANE_API_AUTHORIZER_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controlplane/api_tokens.h"
#include "grpcpp/server_context.h"

namespace tether::controlplane {

/// Who may use which service through tetherd's API token: the caller's
/// token scope (ApiTokens) against the namespace a service is recorded in.
/// Shared by the ControlPlane API and the OTLP receiver. Thread-safe.
class ApiAuthorizer {
 public:
  /// A service's recorded namespace; nullopt when there is no such service.
  using NamespaceOf =
      std::function<std::optional<std::string>(const std::string& service)>;

  /// `tokens` null: an open API, every caller unscoped. Neither is owned.
  ApiAuthorizer(ApiTokens* tokens, NamespaceOf namespace_of)
      : tokens_(tokens), namespace_of_(std::move(namespace_of)) {}

  /// What the caller may use; UNAUTHENTICATED without a listed token.
  absl::StatusOr<TokenScope> Scope(
      const grpc::ServerContextBase& context) const;

  /// OK when `scope` may use service `name`, judged by the namespace it is
  /// recorded in (an unknown one only by its name, so it is NOT_FOUND
  /// later); PERMISSION_DENIED otherwise.
  absl::Status CheckService(const TokenScope& scope,
                            const std::string& name) const;

  /// Scope, then CheckService.
  absl::Status Authorize(const grpc::ServerContextBase& context,
                         const std::string& name) const;

  /// Whether `name` is a recorded service `scope` may use.
  bool Allows(const TokenScope& scope, const std::string& name) const;

 private:
  ApiTokens* const tokens_;
  const NamespaceOf namespace_of_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_API_AUTHORIZER_H_
