#ifndef TETHER_AGENT_READINESS_SOURCE_H_
#define TETHER_AGENT_READINESS_SOURCE_H_

#include "absl/status/status.h"

namespace tether::agent {

/// Whether this replica should receive traffic: the seam between the HTTP
/// health endpoint and the agent's state, so either side tests alone.
class ReadinessSource {
 public:
  virtual ~ReadinessSource() = default;

  /// OK when ready; otherwise a status whose message says why not, in one
  /// line (it is the body of the 503). Called from the health server's
  /// thread on every probe, so it must be thread-safe and must not block:
  /// a slow answer stalls liveness probes too.
  virtual absl::Status Ready() const = 0;
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_READINESS_SOURCE_H_
