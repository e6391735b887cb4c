#include "kube/pod_log.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kube/json_fields.h"
#include "kube/resource_type.h"

namespace tether::kube {
namespace {

using nlohmann::json;

// The status of container `name` in any of the pod's status lists; null
// when the kubelet has reported none.
const json& ContainerStatus(const json& status, absl::string_view name) {
  for (const char* list : {"containerStatuses", "initContainerStatuses",
                           "ephemeralContainerStatuses"}) {
    const json& statuses = Field(status, list);
    if (!statuses.is_array()) continue;
    for (const json& container : statuses) {
      if (StringField(container, "name") == name) return container;
    }
  }
  static const json& kNone = *new json();
  return kNone;
}

}  // namespace

absl::StatusOr<LogInstance> ContainerLogInstance(const json& pod,
                                                 absl::string_view container,
                                                 bool previous) {
  // The kubelet's messages quote names with Go's %q; Kubernetes names need
  // no escaping.
  const std::string where = absl::StrCat("container \"", container,
                                         "\" in pod \"", ObjectName(pod), "\"");
  const json& status = ContainerStatus(Field(pod, "status"), container);
  if (status.is_null()) {
    return absl::InvalidArgumentError(absl::StrCat(where, " is not available"));
  }
  const json& state = Field(status, "state");
  const json& last = Field(Field(status, "lastState"), "terminated");
  // Only an instance with a container id has a log file.
  const bool has_last =
      last.is_object() && !StringField(last, "containerID").empty();
  if (previous) {
    if (has_last) return LogInstance::kPrevious;
    return absl::InvalidArgumentError(
        absl::StrCat("previous terminated ", where, " not found"));
  }
  if (Field(state, "running").is_object()) return LogInstance::kCurrent;
  const json& terminated = Field(state, "terminated");
  if (terminated.is_object()) {
    if (!StringField(terminated, "containerID").empty()) {
      return LogInstance::kCurrent;
    }
    // The next instance never started: its predecessor's log it is.
    if (has_last) return LogInstance::kPrevious;
    return absl::InvalidArgumentError(absl::StrCat(where, " is terminated"));
  }
  if (last.is_object()) {
    if (has_last) return LogInstance::kPrevious;
    return absl::InvalidArgumentError(absl::StrCat(where, " is terminated"));
  }
  const json& waiting = Field(state, "waiting");
  if (waiting.is_object()) {
    const std::string reason = StringField(waiting, "reason");
    if (reason == "ErrImagePull") {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " is waiting to start: image can't be pulled"));
    }
    if (reason == "ImagePullBackOff") {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " is waiting to start: trying and failing to pull image"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(where, " is waiting to start: ", reason));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, " is waiting to start - no logs yet"));
}

std::vector<PodLogLine> ParseTimestampedLog(absl::string_view log) {
  std::vector<PodLogLine> lines;
  absl::Time time = absl::InfinitePast();
  std::vector<absl::string_view> pieces = absl::StrSplit(log, '\n');
  for (size_t i = 0; i < pieces.size(); ++i) {
    const absl::string_view piece = pieces[i];
    // After the last newline: nothing, or a line cut short.
    const bool cut = i + 1 == pieces.size();
    if (cut && piece.empty()) break;
    const size_t space = piece.find(' ');
    const absl::string_view stamp = piece.substr(0, space);
    absl::Time parsed;
    if (absl::ParseTime(absl::RFC3339_full, stamp, &parsed, nullptr)) {
      time = parsed;
      lines.push_back({time, space == absl::string_view::npos
                                 ? std::string()
                                 : std::string(piece.substr(space + 1))});
    } else if (!cut) {
      lines.push_back({time, std::string(piece)});
    }
  }
  return lines;
}

}  // namespace tether::kube
