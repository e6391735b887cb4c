#ifndef TETHER_COMMON_HEALTH_ROUTES_H_
#define TETHER_COMMON_HEALTH_ROUTES_H_

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "common/http_server.h"

namespace tether {

/// Kubernetes probe routes for an HttpServer:
///
///   /healthz  200 "ok" while the server answers (liveness: the process is
///             up and its HTTP workers are not wedged)
///   /readyz   200 "ready" when `ready()` is OK, else 503 "not ready: " and
///             its message on one line (it ends up in `kubectl describe`)
///
/// `ready` runs on the server's worker threads on every probe, so it must
/// be thread-safe and must not block: a slow answer stalls liveness too.
std::vector<HttpServer::Route> HealthRoutes(
    std::function<absl::Status()> ready);

}  // namespace tether

#endif  // TETHER_COMMON_HEALTH_ROUTES_H_
