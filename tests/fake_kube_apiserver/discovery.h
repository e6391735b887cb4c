#ifndef TETHER_TESTS_FAKE_KUBE_APISERVER_DISCOVERY_H_
#define TETHER_TESTS_FAKE_KUBE_APISERVER_DISCOVERY_H_

// The resources the fake API server serves, and how clients find them:
// legacy discovery (/api, /apis, /api/v1, /apis/{group}/{version}) and
// OpenAPI v3 (/openapi/v3 and one document per group version) as far as
// kubectl reads them. See README.md.

#include <string>

#include "absl/types/span.h"
#include "nlohmann/json.hpp"

namespace tether::fake_kube {

struct KindInfo {
  std::string group;  // "" for core.
  std::string version;
  std::string plural;
  std::string kind;
  bool status_subresource;
  bool scale_subresource;
  bool generation;  // Whether spec changes bump metadata.generation.
  // kubectl's abbreviation ("deploy"), or empty.
  std::string short_name;
  // In the "all" category (`kubectl get all`).
  bool in_all = false;
};

/// Every resource the fake serves.
absl::Span<const KindInfo> Kinds();

/// "v1", "apps/v1".
std::string GroupVersion(const KindInfo& k);

/// The discovery or OpenAPI document at `path` (without the query), or
/// null when `path` is not one: /api, /apis, /api/v1,
/// /apis/{group}/{version} (legacy discovery: kubectl falls back to it
/// when it asks for the aggregated form and gets this), /openapi/v3 (the
/// index) and /openapi/v3/api/v1, /openapi/v3/apis/{group}/{version}
/// (paths and operations only, no schemas: enough for kubectl to see that
/// PATCH takes `fieldValidation` and leave validation to the server).
nlohmann::json DiscoveryDocument(const std::string& path);

}  // namespace tether::fake_kube

#endif  // TETHER_TESTS_FAKE_KUBE_APISERVER_DISCOVERY_H_
