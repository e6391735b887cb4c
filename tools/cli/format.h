#ifndef TETHER_TOOLS_CLI_FORMAT_H_
#define TETHER_TOOLS_CLI_FORMAT_H_

// Human and JSON output of the CLI. Pure functions of their inputs (the
// current time is a parameter), so tests pin every character.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tether/v1/call.pb.h"
#include "tether/v1/control_plane.pb.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace tether::cli {

/// kubectl-style age: "45s", "12m", "5h", "3d"; "-" for negative ages.
std::string FormatAge(absl::Duration age);

/// Seconds with two decimals: "1.23s".
std::string FormatSeconds(absl::Duration duration);

/// "512 B", "1.5 KiB", "3.0 MiB", ...
std::string FormatBytes(uint64_t bytes);

/// Left-aligned columns separated by three spaces, no trailing spaces; the
/// first row is the header. Rows may be shorter than the header.
std::string RenderTable(const std::vector<std::vector<std::string>>& rows);

/// "Deploying", "Ready", "Failed", "Degraded", "Idle", or "Unknown".
std::string ServicePhaseName(tether::v1::ServiceStatus::Phase phase);
/// "Starting", "Loading", "Ready", "Failed", "Lost", or "Unknown".
std::string ReplicaPhaseName(tether::v1::ReplicaStatus::Phase phase);
/// "accepted", "applied", "started", "attached", "syncing", "loading",
/// "ready", or "event".
std::string StageName(tether::v1::DeployEvent::Stage stage);

/// Ready and desired replicas: "1/2". Desired is `scale` when set (tether
/// scale, the inactivity TTL), else spec.compute.replicas (0 counts as the
/// default, 1).
std::string ReplicaCount(const tether::v1::ServiceStatus& status);

/// One deploy progress line, e.g.
/// "  [0.12s] hello-0  loading  importing hello.greet". The replica column
/// is padded to `replica_width`, the stage column to 8.
std::string FormatDeployEvent(const tether::v1::DeployEvent& event,
                              absl::Duration elapsed, size_t replica_width);

/// The `tether ls` table: NAMESPACE NAME PHASE REPLICAS REVISION ACTIVE
/// IN-FLIGHT TTL AGE. ACTIVE is the last activity ("12s ago", "never"),
/// IN-FLIGHT the calls running, TTL when the inactivity TTL acts ("in 4m",
/// "deletes in 4m" for ttl_action delete, "now" when due, "idle" while parked,
/// "-" when it will not act).
std::string FormatServiceList(const tether::v1::ListServicesResponse& list,
                              absl::Time now);

/// The `tether status` view: service fields (Namespace, Scale when set,
/// Activity, and Idle TTL when the spec has one), then a replica table.
std::string FormatServiceStatus(const tether::v1::ServiceStatus& status,
                                absl::Time now);

/// `tether status`'s warning about the service's pods that asked for the
/// agent but run without it, then a POD OWNER AGE table; "" for none.
std::string FormatUninjectedPods(const tether::v1::ServiceStatus& status,
                                 absl::Time now);

/// `tether ls`'s warning: how many pods of each service asked for the agent
/// but run without it, known services and others alike; "" for none.
std::string FormatUninjectedNote(const tether::v1::ListServicesResponse& list);

/// A remote exception as Python prints it: the traceback, ending with
/// "Type: message" (added when the traceback does not already end so).
std::string FormatRemoteError(const tether::v1::RemoteError& error);

/// Re-indents JSON text with two spaces; containers whose compact form fits
/// in a line stay on one line. Numbers and strings are copied verbatim (no
/// float round-trip). Text that is not balanced JSON is returned unchanged.
std::string PrettyJson(absl::string_view json);

/// `message` in the proto3 JSON mapping (lowerCamelCase names), pretty
/// (PrettyJson) or compact (one line, for streams of messages).
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   bool pretty);

}  // namespace tether::cli

#endif  // TETHER_TOOLS_CLI_FORMAT_H_
