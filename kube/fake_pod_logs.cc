#include "kube/fake_pod_logs.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kube/json_fields.h"
#include "kube/resource_type.h"

namespace tether::kube {
namespace {

using nlohmann::json;

// The pod's container names in the API server's order: init containers,
// containers, ephemeral containers.
std::vector<std::string> ContainerNames(const json& spec) {
  std::vector<std::string> names;
  for (const char* list :
       {"initContainers", "containers", "ephemeralContainers"}) {
    const json& containers = Field(spec, list);
    if (!containers.is_array()) continue;
    for (const json& container : containers) {
      names.push_back(StringField(container, "name"));
    }
  }
  return names;
}

// The container a read names, checked as the API server does.
absl::StatusOr<std::string> PickContainer(const json& pod,
                                          const std::string& container) {
  const std::string pod_name = ObjectName(pod);
  const json& spec = Field(pod, "spec");
  const std::vector<std::string> names = ContainerNames(spec);
  if (!container.empty()) {
    if (std::find(names.begin(), names.end(), container) != names.end()) {
      return container;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "container ", container, " is not valid for pod ", pod_name));
  }
  const json& containers = Field(spec, "containers");
  const size_t count = containers.is_array() ? containers.size() : 0;
  if (count == 1) return StringField(containers[0], "name");
  std::string message =
      absl::StrCat("a container name must be specified for pod ", pod_name);
  // Go prints a []string as "[a b]".
  if (count > 1) {
    absl::StrAppend(&message, ", choose one of: [", absl::StrJoin(names, " "),
                    "]");
  }
  return absl::InvalidArgumentError(message);
}

}  // namespace

std::string FormatLogTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", time, absl::UTCTimeZone());
}

absl::StatusOr<std::string> ServePodLog(const json& pod,
                                        const PodLogOptions& options,
                                        const KeptPodLog& kept) {
  absl::StatusOr<std::string> container = PickContainer(pod, options.container);
  if (!container.ok()) return container.status();
  // The API server has no kubelet to ask yet.
  if (StringField(Field(pod, "spec"), "nodeName").empty()) return "";
  absl::StatusOr<LogInstance> instance =
      ContainerLogInstance(pod, *container, options.previous);
  if (!instance.ok()) return instance.status();
  std::vector<PodLogLine> lines =
      ParseTimestampedLog(kept(*container, *instance));
  if (options.tail_lines >= 0 &&
      lines.size() > static_cast<size_t>(options.tail_lines)) {
    lines.erase(lines.begin(), lines.end() - options.tail_lines);
  }
  const absl::Time since =
      options.since_time == absl::InfinitePast()
          ? options.since_time
          : absl::FromUnixSeconds(absl::ToUnixSeconds(options.since_time));
  std::string body;
  for (const PodLogLine& line : lines) {
    if (line.time < since) continue;
    if (options.timestamps)
      absl::StrAppend(&body, FormatLogTime(line.time), " ");
    absl::StrAppend(&body, line.text, "\n");
  }
  if (options.limit_bytes > 0 &&
      body.size() > static_cast<size_t>(options.limit_bytes)) {
    body.resize(options.limit_bytes);
  }
  return body;
}

}  // namespace tether::kube
