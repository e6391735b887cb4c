#include "kube/pod_security.h"

#include <string>
#include <utility>

#include "kube/json_fields.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

constexpr const char* kContainerLists[] = {"initContainers", "containers"};

// `object[key]` to fill in, created when absent; null when it holds
// something other than an object.
json* ObjectField(json& object, const char* key) {
  if (!object.contains(key)) object[key] = json::object();
  json& field = object[key];
  return field.is_object() ? &field : nullptr;
}

void SetIfAbsent(json& object, const char* key, json value) {
  if (!object.contains(key)) object[key] = std::move(value);
}

bool RunsAsRoot(const json& security_context) {
  return Field(security_context, "runAsUser") == 0;
}

// Explicitly root: runAsNonRoot defaults would keep the pod from starting.
bool AsksForRoot(const json& pod_spec) {
  const json& pod_context = Field(pod_spec, "securityContext");
  if (RunsAsRoot(pod_context) || Field(pod_context, "runAsNonRoot") == false) {
    return true;
  }
  for (const char* list : kContainerLists) {
    const json& containers = Field(pod_spec, list);
    if (!containers.is_array()) continue;
    for (const json& container : containers) {
      if (RunsAsRoot(Field(container, "securityContext"))) return true;
    }
  }
  return false;
}

// The API server refuses allowPrivilegeEscalation false beside these.
bool EscalatesAnyway(const json& security_context) {
  if (Field(security_context, "privileged") == true) return true;
  const json& add = Field(Field(security_context, "capabilities"), "add");
  if (!add.is_array()) return false;
  for (const json& capability : add) {
    if (capability == "SYS_ADMIN" || capability == "CAP_SYS_ADMIN") {
      return true;
    }
  }
  return false;
}

// "default" is what the ServiceAccount admission plugin fills in, before
// the injector's webhook sees the pod: not the pod's own choice.
bool NamesServiceAccount(const json& pod_spec) {
  for (const char* field : {"serviceAccountName", "serviceAccount"}) {
    const std::string account = StringField(pod_spec, field);
    if (!account.empty() && account != "default") return true;
  }
  return false;
}

}  // namespace

void ApplyRestrictedDefaults(json& pod_spec) {
  if (!pod_spec.is_object()) return;
  const bool root = AsksForRoot(pod_spec);
  if (json* context = ObjectField(pod_spec, "securityContext")) {
    SetIfAbsent(*context, "seccompProfile", {{"type", "RuntimeDefault"}});
    if (!root) {
      SetIfAbsent(*context, "runAsNonRoot", true);
      if (!context->contains("runAsUser")) {
        (*context)["runAsUser"] = kDefaultPodUser;
        SetIfAbsent(*context, "runAsGroup", kDefaultPodUser);
      }
    }
    if (!context->contains("fsGroup")) {
      (*context)["fsGroup"] = kDefaultPodUser;
      SetIfAbsent(*context, "fsGroupChangePolicy", "OnRootMismatch");
    }
  }
  for (const char* list : kContainerLists) {
    if (!pod_spec.contains(list) || !pod_spec[list].is_array()) continue;
    for (json& container : pod_spec[list]) {
      if (!container.is_object()) continue;
      json* context = ObjectField(container, "securityContext");
      if (context == nullptr) continue;
      if (!EscalatesAnyway(*context)) {
        SetIfAbsent(*context, "allowPrivilegeEscalation", false);
      }
      if (json* capabilities = ObjectField(*context, "capabilities")) {
        SetIfAbsent(*capabilities, "drop", json::array({"ALL"}));
      }
      if (!root) SetIfAbsent(*context, "runAsNonRoot", true);
    }
  }
  if (!NamesServiceAccount(pod_spec)) {
    SetIfAbsent(pod_spec, "automountServiceAccountToken", false);
  }
}

}  // namespace tether::kube
