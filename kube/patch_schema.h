#ifndef TETHER_KUBE_PATCH_SCHEMA_H_
#define TETHER_KUBE_PATCH_SCHEMA_H_

// Kubernetes' strategic-merge-patch metadata (the `patchStrategy` and
// `patchMergeKey` tags of k8s.io/api, published as x-kubernetes-patch-strategy
// and x-kubernetes-patch-merge-key) for the object types Tether renders and
// everything inside them, as one table keyed by (schema type, field).
//
// Only fields that carry a strategy, and the struct-typed fields on the way
// to them, are listed: a field that is not listed merges as Kubernetes
// merges a field without tags (objects merge key by key, lists are replaced
// as a whole). kube/merge.h applies the table; the fake API server's
// server-side apply can use the same lookups to merge an applied object into
// a stored one.

#include <string_view>

#include "nlohmann/json.hpp"

namespace tether::kube {

/// Schema type names used by the table (Go type names of k8s.io/api).
inline constexpr std::string_view kPodTemplateSpecType = "PodTemplateSpec";
inline constexpr std::string_view kContainerType = "Container";

/// The patch metadata of one field.
struct FieldPatchMeta {
  /// Schema type of the field's value, or of each entry of a list; empty
  /// when nothing inside it has patch metadata.
  std::string_view value_type;
  /// `patchStrategy: merge` on a list: entries merge (by `merge_key`) or,
  /// for a list of scalars, the lists are united. Otherwise a list is
  /// replaced as a whole.
  bool merge = false;
  /// `patchStrategy: retainKeys`: patches generated for this field carry a
  /// `$retainKeys` list (informational: the directive is honoured anywhere).
  bool retain_keys = false;
  /// `patchStrategy: replace` on an object: the patch's value replaces it.
  bool replace = false;
  /// `patchMergeKey`: the field identifying an entry of a merged list of
  /// objects; empty for a list of scalars.
  std::string_view merge_key;
  /// The entry's `protocol` (default "TCP") is part of its identity beside
  /// `merge_key`, as in the API server's own list-map keys. Kubernetes'
  /// strategic merge ignores it (docs/DESIGN.md, "Kubernetes manifests").
  bool key_has_protocol = false;
};

/// The metadata of `field` in schema type `type`; all defaults when the
/// field has none or `type` is empty or unknown. Thread-safe.
FieldPatchMeta LookupPatchMeta(std::string_view type, std::string_view field);

/// The schema type of a whole object from its apiVersion and kind (e.g.
/// "Deployment" for apps/v1 Deployment); empty when the table does not
/// know the kind. Thread-safe.
std::string_view SchemaTypeOfObject(const nlohmann::json& object);

}  // namespace tether::kube

#endif  // TETHER_KUBE_PATCH_SCHEMA_H_
