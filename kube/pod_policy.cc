#include "kube/pod_policy.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "kube/json_fields.h"
#include "servicespec/yaml_proto.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

// The components of an absolute path, or nullopt for a relative path or
// one with "..", which could climb out of an allowed directory.
std::optional<std::vector<std::string>> Components(absl::string_view path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  std::vector<std::string> components;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == "..") return std::nullopt;
    if (part != ".") components.emplace_back(part);
  }
  return components;
}

// `setting` is the policy field that would allow it.
absl::Status Refused(absl::string_view path, absl::string_view field,
                     absl::string_view what, absl::string_view setting) {
  return absl::PermissionDeniedError(absl::StrCat(
      path, ".", field, ": ", what,
      " is refused by the cluster's pod policy (tetherd --pod_policy_file, ",
      setting, ")"));
}

// A capability's name without the CAP_ prefix Linux gives it.
absl::string_view CapabilityName(absl::string_view name) {
  absl::ConsumePrefix(&name, "CAP_");
  return name;
}

}  // namespace

absl::StatusOr<PodPolicy> PodPolicy::Create(
    const tether::v1::PodPolicy& config) {
  PodPolicy policy;
  policy.config_ = config;
  for (int i = 0; i < config.allowed_host_paths_size(); ++i) {
    std::optional<std::vector<std::string>> components =
        Components(config.allowed_host_paths(i));
    if (!components.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "allowed_host_paths[", i, "]: \"", config.allowed_host_paths(i),
          "\" is not an absolute path without \"..\""));
    }
    policy.host_paths_.push_back(*std::move(components));
  }
  return policy;
}

absl::StatusOr<PodPolicy> PodPolicy::FromFile(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  tether::v1::PodPolicy config;
  if (text.find_first_not_of(" \t\r\n") != std::string::npos) {
    absl::Status parsed = servicespec::YamlTextToProto(text, &config);
    if (!parsed.ok()) {
      return absl::Status(parsed.code(),
                          absl::StrCat(path, ": ", parsed.message()));
    }
  }
  absl::StatusOr<PodPolicy> policy = Create(config);
  if (!policy.ok()) {
    return absl::Status(policy.status().code(),
                        absl::StrCat(path, ": ", policy.status().message()));
  }
  return policy;
}

absl::Status PodPolicy::Check(const json& pod_spec,
                              absl::string_view path) const {
  struct HostNamespace {
    const char* field;
    bool allowed;
    const char* setting;
  };
  for (const HostNamespace& host :
       {HostNamespace{"hostNetwork", config_.allow_host_network(),
                      "allow_host_network"},
        HostNamespace{"hostPID", config_.allow_host_pid(), "allow_host_pid"},
        HostNamespace{"hostIPC", config_.allow_host_ipc(), "allow_host_ipc"}}) {
    if (!host.allowed && Field(pod_spec, host.field) == true) {
      return Refused(path, host.field, "true", host.setting);
    }
  }
  const json& volumes = Field(pod_spec, "volumes");
  if (volumes.is_array()) {
    for (size_t i = 0; i < volumes.size(); ++i) {
      const json& host_path = Field(volumes[i], "hostPath");
      if (host_path.is_null()) continue;
      const std::string field = absl::StrCat("volumes[", i, "].hostPath.path");
      const std::string dir = StringField(host_path, "path");
      const std::optional<std::vector<std::string>> components =
          Components(dir);
      if (!components.has_value()) {
        return Refused(
            path, field,
            absl::StrCat("\"", dir, "\", not an absolute path without \"..\","),
            "allowed_host_paths");
      }
      const bool allowed =
          std::any_of(host_paths_.begin(), host_paths_.end(),
                      [&](const std::vector<std::string>& prefix) {
                        return prefix.size() <= components->size() &&
                               std::equal(prefix.begin(), prefix.end(),
                                          components->begin());
                      });
      if (!allowed) {
        return Refused(path, field, absl::StrCat("\"", dir, "\""),
                       "allowed_host_paths");
      }
    }
  }
  for (const char* list : {"initContainers", "containers"}) {
    const json& containers = Field(pod_spec, list);
    if (!containers.is_array()) continue;
    for (size_t i = 0; i < containers.size(); ++i) {
      RETURN_IF_ERROR(
          CheckContainer(containers[i], path, absl::StrCat(list, "[", i, "]")));
    }
  }
  return absl::OkStatus();
}

absl::Status PodPolicy::CheckContainer(const json& container,
                                       absl::string_view path,
                                       absl::string_view name) const {
  const json& security = Field(container, "securityContext");
  if (!config_.allow_privileged() && Field(security, "privileged") == true) {
    return Refused(path, absl::StrCat(name, ".securityContext.privileged"),
                   "true", "allow_privileged");
  }
  const json& ports = Field(container, "ports");
  if (!config_.allow_host_ports() && ports.is_array()) {
    for (size_t i = 0; i < ports.size(); ++i) {
      const json& host_port = Field(ports[i], "hostPort");
      if (host_port.is_number() && host_port != 0) {
        return Refused(path, absl::StrCat(name, ".ports[", i, "].hostPort"),
                       host_port.dump(), "allow_host_ports");
      }
    }
  }
  const json& added = Field(Field(security, "capabilities"), "add");
  if (!added.is_array()) return absl::OkStatus();
  for (size_t i = 0; i < added.size(); ++i) {
    if (!added[i].is_string()) continue;
    const absl::string_view capability =
        CapabilityName(added[i].get_ref<const std::string&>());
    const bool allowed =
        capability == "NET_BIND_SERVICE" ||
        std::any_of(config_.allowed_capabilities().begin(),
                    config_.allowed_capabilities().end(),
                    [&](const std::string& listed) {
                      return CapabilityName(listed) == capability;
                    });
    if (!allowed) {
      return Refused(
          path,
          absl::StrCat(name, ".securityContext.capabilities.add[", i, "]"),
          absl::StrCat("\"", capability, "\""), "allowed_capabilities");
    }
  }
  return absl::OkStatus();
}

}  // namespace tether::kube
