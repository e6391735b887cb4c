#ifndef TETHER_KUBE_STRUCT_JSON_H_
#define TETHER_KUBE_STRUCT_JSON_H_

// Kubernetes objects written in YAML or carried in a google.protobuf.Struct
// (service_template, pod_template) as nlohmann::json, the form kube/ works
// on.

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// `value` as JSON. Whole numbers become integers: YAML and Struct carry
/// every number as a double, but Kubernetes rejects 100.0 where an integer
/// field is expected. Thread-safe.
nlohmann::json StructToJson(const google::protobuf::Struct& value);

/// Parses one YAML (or JSON) document holding an object, typed as YAML 1.2
/// types scalars (servicespec/yaml_proto.h). INVALID_ARGUMENT with the line
/// and column for syntax errors, or when the document is not an object.
/// Thread-safe.
absl::StatusOr<nlohmann::json> YamlObjectToJson(absl::string_view yaml);

/// Every document of a multi-document YAML stream (`kubectl apply -f`
/// input), each an object typed as YamlObjectToJson does; empty documents
/// are skipped. INVALID_ARGUMENT with the line and column for syntax
/// errors, or "document N: ..." (from 1) for one that is not an object.
/// Thread-safe.
absl::StatusOr<std::vector<nlohmann::json>> YamlDocumentsToJson(
    absl::string_view yaml);

}  // namespace tether::kube

#endif  // TETHER_KUBE_STRUCT_JSON_H_
