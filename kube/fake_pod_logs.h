#ifndef TETHER_KUBE_FAKE_POD_LOGS_H_
#define TETHER_KUBE_FAKE_POD_LOGS_H_

// What the API server and the kubelet answer to a pod log read, for the
// fakes (FakeKubeClient, tests/fake_kube_apiserver), which keep each
// container instance's log as the kubelet would: "<time> <text>" lines.

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kube/kube_client.h"
#include "kube/pod_log.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// `time` as the kubelet stamps log lines: RFC3339Nano in UTC, trailing
/// zeros of the fraction dropped ("2024-05-01T10:00:00.5Z").
std::string FormatLogTime(absl::Time time);

/// The kept log of one instance of a container of the pod being read, as
/// "<time> <text>\n" lines; "" when it printed nothing.
using KeptPodLog =
    std::function<std::string(const std::string& container, LogInstance)>;

/// The body of `GET .../pods/{name}/log` for `pod` with `options`, as the
/// real servers make it: the API server picks the container (the only one
/// when none is named) and answers an empty log for a pod on no node; the
/// kubelet picks the instance (ContainerLogInstance), keeps the last
/// `tail_lines` lines, then those stamped at or after `since_time` in whole
/// seconds (the precision the API server passes on), writes each with its
/// time when asked, and stops after `limit_bytes`. INVALID_ARGUMENT with
/// the servers' message (a 400 BadRequest): no or an unknown container
/// name, and ContainerLogInstance's errors. Thread-safe as `kept` is.
absl::StatusOr<std::string> ServePodLog(const nlohmann::json& pod,
                                        const PodLogOptions& options,
                                        const KeptPodLog& kept);

}  // namespace tether::kube

#endif  // TETHER_KUBE_FAKE_POD_LOGS_H_
