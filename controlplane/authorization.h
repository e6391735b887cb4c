#ifndef TETHER_CONTROLPLANE_AUTHORIZATION_H_
#define TETHER_CONTROLPLANE_AUTHORIZATION_H_

#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"

namespace tether::controlplane {

/// The request's `authorization` metadata; empty when there is none.
/// Thread-safe.
absl::string_view AuthorizationOf(const grpc::ServerContextBase& context);

/// The token of a "Bearer <token>" authorization; empty otherwise.
/// Thread-safe.
std::string BearerToken(const grpc::ServerContextBase& context);

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_AUTHORIZATION_H_
