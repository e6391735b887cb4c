#ifndef TETHER_KUBE_POD_LOG_H_
#define TETHER_KUBE_POD_LOG_H_

// Pod logs (KubeClient::PodLogs) as the kubelet serves them: which instance
// of a container a read gets, and the lines of a log read with timestamps.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// Which instance of a container a log read gets.
enum class LogInstance {
  /// The one running now, or the one that ended and was not restarted.
  kCurrent,
  /// The last one that terminated.
  kPrevious,
};

/// The instance of `container` in `pod` (a Pod as the API server returns
/// it) that a log read with `previous` gets, decided as the kubelet does
/// (its validateContainerLogStatus): with `previous`, the last terminated
/// one; else the running or terminated one, or, while the container waits
/// to start again (CrashLoopBackOff), the last terminated one, so a plain
/// read of a crash-looping container shows its last run. INVALID_ARGUMENT
/// with the kubelet's message when there is none: "container \"c\" in pod
/// \"p\" is waiting to start: ContainerCreating", "previous terminated
/// container \"c\" in pod \"p\" not found", "container \"c\" in pod \"p\"
/// is not available" (no status for it yet). Thread-safe (pure).
absl::StatusOr<LogInstance> ContainerLogInstance(const nlohmann::json& pod,
                                                 absl::string_view container,
                                                 bool previous);

/// One line of a log read with timestamps.
struct PodLogLine {
  absl::Time time;
  std::string text;
};

/// The lines of a log read with `timestamps` ("<RFC 3339 time> <text>"
/// each, the time to the nanosecond in any offset). A line without a
/// readable time keeps its text and takes the time of the line before
/// (InfinitePast for the first): only a last line cut inside its time by
/// `limit_bytes` is dropped. Thread-safe (pure).
std::vector<PodLogLine> ParseTimestampedLog(absl::string_view log);

}  // namespace tether::kube

#endif  // TETHER_KUBE_POD_LOG_H_
