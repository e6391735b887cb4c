#include "kube/resource_type.h"

#include <deque>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kube/json_fields.h"

namespace tether::kube {

namespace {

// Kinds registered at run time; never freed, so the views stay valid.
struct Interned {
  absl::Mutex mu;
  std::deque<std::string> strings ABSL_GUARDED_BY(mu);
  std::vector<ResourceType> types ABSL_GUARDED_BY(mu);
};

Interned& Registry() {
  static Interned* const registry = new Interned;
  return *registry;
}

std::optional<ResourceType> FindInterned(absl::string_view api_version,
                                         absl::string_view kind) {
  Interned& registry = Registry();
  absl::MutexLock lock(&registry.mu);
  for (const ResourceType& type : registry.types) {
    if (type.api_version == api_version && type.kind == kind) return type;
  }
  return std::nullopt;
}

}  // namespace

ResourceType InternResourceType(absl::string_view api_version,
                                absl::string_view kind,
                                absl::string_view plural) {
  Interned& registry = Registry();
  absl::MutexLock lock(&registry.mu);
  for (const ResourceType& type : registry.types) {
    if (type.api_version == api_version && type.kind == kind) return type;
  }
  registry.strings.emplace_back(api_version);
  const absl::string_view version = registry.strings.back();
  registry.strings.emplace_back(kind);
  const absl::string_view name = registry.strings.back();
  registry.strings.emplace_back(plural);
  registry.types.push_back({version, name, registry.strings.back()});
  return registry.types.back();
}

absl::StatusOr<ResourceType> ResourceTypeOf(const nlohmann::json& object) {
  static constexpr ResourceType kKnown[] = {kPods,
                                            kServices,
                                            kSecrets,
                                            kPodTemplates,
                                            kEvents,
                                            kDeployments,
                                            kStatefulSets,
                                            kJobs,
                                            kCronJobs,
                                            kHorizontalPodAutoscalers,
                                            kPodDisruptionBudgets};
  const auto api_version = object.find("apiVersion");
  const auto kind = object.find("kind");
  if (!object.is_object() || api_version == object.end() ||
      !api_version->is_string() || kind == object.end() || !kind->is_string()) {
    return absl::InvalidArgumentError(
        "object has no string apiVersion and kind");
  }
  for (const ResourceType& type : kKnown) {
    if (type.api_version == api_version->get_ref<const std::string&>() &&
        type.kind == kind->get_ref<const std::string&>()) {
      return type;
    }
  }
  if (std::optional<ResourceType> interned =
          FindInterned(api_version->get_ref<const std::string&>(),
                       kind->get_ref<const std::string&>())) {
    return *interned;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported kind ", kind->get<std::string>(), " in ",
                   api_version->get<std::string>()));
}

namespace {

// The string at `path` under `object`, or "" when any step is missing.
std::string StringAtPath(const nlohmann::json& object,
                         std::initializer_list<absl::string_view> path) {
  const nlohmann::json* node = &object;
  for (absl::string_view step : path) node = &Field(*node, step);
  return node->is_string() ? node->get<std::string>() : "";
}

}  // namespace

std::string MetadataString(const nlohmann::json& object,
                           absl::string_view field) {
  return StringAtPath(object, {"metadata", field});
}

std::string ObjectName(const nlohmann::json& object) {
  return MetadataString(object, "name");
}

std::string ObjectLabel(const nlohmann::json& object, absl::string_view key) {
  return StringAtPath(object, {"metadata", "labels", key});
}

std::string ResourcePath(const ResourceType& type, absl::string_view ns,
                         absl::string_view name) {
  // The core group lives under /api, named groups under /apis.
  const bool core = type.api_version.find('/') == absl::string_view::npos;
  std::string path = absl::StrCat(core ? "/api/" : "/apis/", type.api_version,
                                  "/namespaces/", ns, "/", type.plural);
  if (!name.empty()) absl::StrAppend(&path, "/", name);
  return path;
}

}  // namespace tether::kube
