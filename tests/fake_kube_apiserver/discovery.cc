#include "tests/fake_kube_apiserver/discovery.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace tether::fake_kube {
namespace {

using json = nlohmann::json;

const KindInfo kKinds[] = {
    {"", "v1", "services", "Service", true, false, false, "svc", true},
    {"", "v1", "secrets", "Secret", false, false, false},
    {"", "v1", "pods", "Pod", true, false, false, "po", true},
    {"", "v1", "podtemplates", "PodTemplate", false, false, false},
    {"", "v1", "events", "Event", false, false, false, "ev"},
    {"", "v1", "configmaps", "ConfigMap", false, false, false, "cm"},
    {"apps", "v1", "deployments", "Deployment", true, true, true, "deploy",
     true},
    {"apps", "v1", "statefulsets", "StatefulSet", true, true, true, "sts",
     true},
    {"batch", "v1", "jobs", "Job", true, false, true, "", true},
    {"batch", "v1", "cronjobs", "CronJob", true, false, true, "cj", true},
    // A custom resource, as if Kubeflow's training operator were installed.
    {"kubeflow.org", "v1", "pytorchjobs", "PyTorchJob", true, false, true},
    {"autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
     true, false, true, "hpa", true},
    {"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, false,
     true, "pdb"},
};

// "/api/v1", "/apis/apps/v1".
std::string GroupVersionPath(const KindInfo& k) {
  return k.group.empty() ? absl::StrCat("/api/", k.version)
                         : absl::StrCat("/apis/", k.group, "/", k.version);
}

json Versions() {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs", json::array()}};
}

json Groups() {
  json groups = json::array();
  for (const KindInfo& k : kKinds) {
    if (k.group.empty() ||
        std::any_of(groups.begin(), groups.end(), [&](const json& group) {
          return group["name"] == k.group;
        })) {
      continue;
    }
    const json version = {{"groupVersion", GroupVersion(k)},
                          {"version", k.version}};
    groups.push_back({{"name", k.group},
                      {"versions", {version}},
                      {"preferredVersion", version}});
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

// The APIResourceList of the group version at `path`, or null.
json Resources(const std::string& path) {
  json resources = json::array();
  std::string group_version;
  for (const KindInfo& k : kKinds) {
    if (path != GroupVersionPath(k)) continue;
    group_version = GroupVersion(k);
    json resource = {
        {"name", k.plural},
        {"singularName", absl::AsciiStrToLower(k.kind)},
        {"namespaced", true},
        {"kind", k.kind},
        {"verbs",
         {"create", "delete", "get", "list", "patch", "update", "watch"}}};
    if (!k.short_name.empty()) resource["shortNames"] = {k.short_name};
    if (k.in_all) resource["categories"] = {"all"};
    resources.push_back(std::move(resource));
    auto subresource = [&](const std::string& name, const std::string& kind,
                           json verbs) {
      resources.push_back({{"name", absl::StrCat(k.plural, "/", name)},
                           {"singularName", ""},
                           {"namespaced", true},
                           {"kind", kind},
                           {"verbs", std::move(verbs)}});
    };
    if (k.status_subresource) {
      subresource("status", k.kind, {"get", "patch", "update"});
    }
    if (k.scale_subresource) {
      subresource("scale", "Scale", {"get", "patch", "update"});
    }
    if (k.plural == "pods") subresource("log", "Pod", {"get"});
  }
  if (group_version.empty()) return nullptr;
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", group_version},
          {"resources", resources}};
}

json Parameter(const std::string& name, const std::string& in,
               const std::string& type) {
  json parameter = {{"name", name}, {"in", in}, {"schema", {{"type", type}}}};
  if (in == "path") parameter["required"] = true;
  return parameter;
}

json Operation(const KindInfo& k, const std::string& action,
               std::vector<json> parameters = {}) {
  const json ok = {{"description", "OK"}};
  return {{"operationId",
           absl::StrCat(action, absl::AsciiStrToUpper(k.kind.substr(0, 1)),
                        k.kind.substr(1))},
          {"x-kubernetes-action", action},
          {"x-kubernetes-group-version-kind",
           {{"group", k.group}, {"version", k.version}, {"kind", k.kind}}},
          {"parameters", std::move(parameters)},
          {"responses", {{"200", ok}}}};
}

// The OpenAPI v3 document of the group version at `path` (as /api/v1,
// /apis/apps/v1), or null: each resource's collection and item paths with
// their operations. PATCH lists the query parameters the fake takes, which
// is what kubectl looks for before leaving validation to the server.
json OpenApi(const std::string& path) {
  json paths = json::object();
  for (const KindInfo& k : kKinds) {
    if (path != GroupVersionPath(k)) continue;
    const std::string collection =
        absl::StrCat(GroupVersionPath(k), "/namespaces/{namespace}/", k.plural);
    const json ns = Parameter("namespace", "path", "string");
    const json name = Parameter("name", "path", "string");
    paths[collection] = {
        {"parameters", {ns}},
        {"get", Operation(k, "list",
                          {Parameter("labelSelector", "query", "string"),
                           Parameter("fieldSelector", "query", "string"),
                           Parameter("limit", "query", "integer"),
                           Parameter("continue", "query", "string"),
                           Parameter("resourceVersion", "query", "string"),
                           Parameter("watch", "query", "boolean")})},
        {"post", Operation(k, "post")}};
    paths[collection + "/{name}"] = {
        {"parameters", {ns, name}},
        {"get", Operation(k, "get")},
        {"put", Operation(k, "put")},
        {"patch", Operation(k, "patch",
                            {Parameter("fieldManager", "query", "string"),
                             Parameter("fieldValidation", "query", "string"),
                             Parameter("force", "query", "boolean")})},
        {"delete",
         Operation(k, "delete",
                   {Parameter("propagationPolicy", "query", "string")})}};
  }
  if (paths.empty()) return nullptr;
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
          {"paths", std::move(paths)},
          {"components", json::object()}};
}

// /openapi/v3: where each group version's document is, named by a hash of
// it as the API server does (clients cache by that URL).
json OpenApiIndex() {
  json paths = json::object();
  for (const KindInfo& k : kKinds) {
    const std::string gv_path = GroupVersionPath(k).substr(1);
    if (paths.contains(gv_path)) continue;
    const std::string hash = absl::AsciiStrToUpper(
        ToHex(Sha256Of(OpenApi(GroupVersionPath(k)).dump())));
    paths[gv_path] = {{"serverRelativeURL",
                       absl::StrCat("/openapi/v3/", gv_path, "?hash=", hash)}};
  }
  return {{"paths", std::move(paths)}};
}

}  // namespace

absl::Span<const KindInfo> Kinds() { return kKinds; }

std::string GroupVersion(const KindInfo& k) {
  return k.group.empty() ? k.version : absl::StrCat(k.group, "/", k.version);
}

json DiscoveryDocument(const std::string& path) {
  if (path == "/api") return Versions();
  if (path == "/apis") return Groups();
  if (path == "/openapi/v3") return OpenApiIndex();
  if (absl::StartsWith(path, "/openapi/v3/")) {
    return OpenApi(path.substr(std::string("/openapi/v3").size()));
  }
  return Resources(path);
}

}  // namespace tether::fake_kube
