#include "kube/restricted_profile.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kube/json_fields.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

constexpr const char* kAllowedVolumeTypes[] = {
    "configMap", "csi",       "downwardAPI",
    "emptyDir",  "ephemeral", "persistentVolumeClaim",
    "projected", "secret"};

bool IsSeccompConfined(const json& profile) {
  const std::string type = StringField(profile, "type");
  return type == "RuntimeDefault" || type == "Localhost";
}

}  // namespace

std::vector<std::string> RestrictedProfileViolations(const json& pod_spec) {
  std::vector<std::string> out;
  const auto fail = [&](const std::string& path, const char* rule) {
    out.push_back(absl::StrCat(path, ": ", rule));
  };
  for (const char* host : {"hostNetwork", "hostPID", "hostIPC"}) {
    if (Field(pod_spec, host) == true) fail(host, "must not be true");
  }
  const json& pod_context = Field(pod_spec, "securityContext");
  const bool pod_non_root = Field(pod_context, "runAsNonRoot") == true;
  const bool pod_seccomp =
      IsSeccompConfined(Field(pod_context, "seccompProfile"));
  if (Field(pod_context, "runAsUser") == 0) {
    fail("securityContext.runAsUser", "must not be 0");
  }
  const json& profile = Field(pod_context, "seccompProfile");
  if (!profile.is_null() && !pod_seccomp) {
    fail("securityContext.seccompProfile.type",
         "must be RuntimeDefault or Localhost");
  }
  const json& volumes = Field(pod_spec, "volumes");
  if (volumes.is_array()) {
    for (size_t i = 0; i < volumes.size(); ++i) {
      for (const auto& [type, unused] : volumes[i].items()) {
        if (type == "name") continue;
        if (std::find(std::begin(kAllowedVolumeTypes),
                      std::end(kAllowedVolumeTypes),
                      type) == std::end(kAllowedVolumeTypes)) {
          fail(absl::StrCat("volumes[", i, "].", type),
               "volume type not allowed");
        }
      }
    }
  }
  for (const char* list : {"initContainers", "containers"}) {
    const json& containers = Field(pod_spec, list);
    if (!containers.is_array()) continue;
    for (size_t i = 0; i < containers.size(); ++i) {
      const std::string path = absl::StrCat(list, "[", i, "]");
      const json& context = Field(containers[i], "securityContext");
      const std::string at = absl::StrCat(path, ".securityContext.");
      if (Field(context, "privileged") == true) {
        fail(at + "privileged", "must not be true");
      }
      if (Field(context, "allowPrivilegeEscalation") != false) {
        fail(at + "allowPrivilegeEscalation", "must be false");
      }
      const json& non_root = Field(context, "runAsNonRoot");
      if (non_root == false || (non_root.is_null() && !pod_non_root)) {
        fail(at + "runAsNonRoot", "must be true here or on the pod");
      }
      if (Field(context, "runAsUser") == 0) {
        fail(at + "runAsUser", "must not be 0");
      }
      const json& container_profile = Field(context, "seccompProfile");
      if (container_profile.is_null() ? !pod_seccomp
                                      : !IsSeccompConfined(container_profile)) {
        fail(at + "seccompProfile.type",
             "must be RuntimeDefault or Localhost here or on the pod");
      }
      const json& capabilities = Field(context, "capabilities");
      const json& drop = Field(capabilities, "drop");
      if (!drop.is_array() ||
          std::find(drop.begin(), drop.end(), "ALL") == drop.end()) {
        fail(at + "capabilities.drop", "must include ALL");
      }
      const json& add = Field(capabilities, "add");
      if (add.is_array()) {
        for (const json& capability : add) {
          if (capability != "NET_BIND_SERVICE") {
            fail(at + "capabilities.add", "may only add NET_BIND_SERVICE");
          }
        }
      }
      const json& ports = Field(containers[i], "ports");
      if (ports.is_array()) {
        for (const json& port : ports) {
          const json& host_port = Field(port, "hostPort");
          if (!host_port.is_null() && host_port != 0) {
            fail(path + ".ports", "hostPort not allowed");
          }
        }
      }
    }
  }
  return out;
}

}  // namespace tether::kube
