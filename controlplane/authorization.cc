#include "controlplane/authorization.h"

#include "absl/strings/strip.h"

namespace tether::controlplane {

absl::string_view AuthorizationOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) return {};
  return absl::string_view(it->second.data(), it->second.size());
}

std::string BearerToken(const grpc::ServerContextBase& context) {
  absl::string_view value = AuthorizationOf(context);
  return absl::ConsumePrefix(&value, "Bearer ") ? std::string(value) : "";
}

}  // namespace tether::controlplane
