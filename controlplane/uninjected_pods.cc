#include "controlplane/uninjected_pods.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tether::controlplane {

void AddUninjectedPods(const std::vector<tether::v1::UninjectedPod>& pods,
                       tether::v1::ListServicesResponse& list) {
  std::map<std::string, tether::v1::ServiceStatus*> by_name;
  for (tether::v1::ServiceStatus& service : *list.mutable_services()) {
    by_name[service.name()] = &service;
  }
  for (const tether::v1::UninjectedPod& pod : pods) {
    const auto it = by_name.find(pod.service());
    *(it == by_name.end() ? list.add_uninjected_pods()
                          : it->second->add_uninjected_pods()) = pod;
  }
}

void AddUninjectedPods(const std::vector<tether::v1::UninjectedPod>& pods,
                       tether::v1::ServiceStatus& status) {
  for (const tether::v1::UninjectedPod& pod : pods) {
    if (pod.service() == status.name()) *status.add_uninjected_pods() = pod;
  }
}

absl::Status ExplainUninjected(
    const absl::Status& not_found, const std::string& name,
    const std::vector<tether::v1::UninjectedPod>& pods) {
  std::vector<std::string> names;
  for (const tether::v1::UninjectedPod& pod : pods) {
    if (pod.service() == name) names.push_back(pod.pod());
  }
  if (names.empty()) return not_found;
  return absl::Status(
      not_found.code(),
      absl::StrCat(not_found.message(), "; but pods labelled for injection ",
                   "into it run without the agent (was tether-injector "
                   "down?): ",
                   absl::StrJoin(names, ", ")));
}

}  // namespace tether::controlplane
