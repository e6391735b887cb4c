#ifndef TETHER_KUBE_MERGE_H_
#define TETHER_KUBE_MERGE_H_

// The one merge of Kubernetes objects in JSON form, in two modes: the
// strategic merge patch (what `kubectl patch --type strategic`, kustomize
// and `kubectl apply` do; used for `service_template`) and Flyte's
// PodTemplate layering (used by kube/pod_template.h). Both take each field's
// merge key and strategy from kube/patch_schema.h, by object type.
//
// Rules common to both (docs/DESIGN.md, "Kubernetes manifests"):
// - Objects merge key by key; keys only in `base` are kept. A null value
//   deletes the key. A scalar replaces a scalar of any type (int-or-string
//   fields may switch).
// - Lists with strategy merge and a merge key merge entry by entry on that
//   key (`containers` by name, `volumeMounts` by mountPath, a container's
//   `ports` by containerPort and a Service's by port, both with protocol);
//   an entry whose key is not in base is added. Lists of scalars with
//   strategy merge (`finalizers`) are united.
// - Directives, never kept in the result:
//   `$patch: replace` in an object replaces the base object with the rest of
//   the patch's; `$patch: delete` in an object removes it (the key, not
//   left as `{}` as kubectl does); `$patch: replace` in a list entry
//   replaces the whole list with the other entries (an entry that also
//   carries data is dropped, as in Kubernetes); `{<key>: v, $patch: delete}`
//   in a keyed list removes the entries with that key.
//   `$retainKeys: [fields]` removes the base's other fields (the patch may
//   only set listed fields). `$setElementOrder/<list>: [...]` orders a
//   merged list (listed entries in that order, others where they were; the
//   patch's entries must appear in it in the same order).
//   `$deleteFromPrimitiveList/<list>: [...]` removes values from a merged
//   list of scalars.
//   Directives and nulls are applied inside values new to the base too.
// - Errors are INVALID_ARGUMENT naming the JSON path, e.g.
//   `spec.containers[0]: entry of a list merged by "name" needs "name"`:
//   an object, list or scalar where the base has another of the three
//   (Kubernetes lets it replace; no built-in field takes both, so the API
//   server would refuse the result), keyed-list entries without their key,
//   bad or unknown directives (also
//   `$patch: merge`, which Kubernetes rejects), directives on lists whose
//   strategy does not allow them, and nesting deeper than kMaxMergeDepth.
//
// Mode kStrategicPatch (Kubernetes):
// - Lists without strategy merge (`command`, `args`, `tolerations`,
//   `envFrom`, `capabilities.add`, `nodeSelectorTerms`...) are replaced.
// - Merged lists are ordered as Kubernetes orders them: the patch's entries
//   in the patch's order, the base's other entries interleaved where they
//   were relative to them.
// Mode kLayer (Flyte's "lists append, maps override"):
// - Lists without strategy merge append the overlay's entries after the
//   base's; an object entry equal to one already present is dropped (the
//   same toleration from two layers), scalars always append.
// - Merged lists keep the base's order and append new entries.

#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// Deepest nesting MergeInto accepts; far beyond any Kubernetes object, and
/// keeps hostile input from exhausting the stack.
inline constexpr int kMaxMergeDepth = 100;

enum class MergeMode {
  /// Kubernetes' strategic merge patch.
  kStrategicPatch,
  /// Flyte's PodTemplate layering.
  kLayer,
};

struct MergeOptions {
  MergeMode mode = MergeMode::kStrategicPatch;
  /// Schema type of `base` (kube/patch_schema.h), e.g. "Deployment" or
  /// kPodTemplateSpecType; empty: no field has a merge key or strategy.
  std::string_view type;
  /// Where `base` sits in its whole object ("" for the root, or e.g.
  /// "spec.template.spec"); prefixes error paths.
  std::string_view path;
};

/// Merges `patch` into `base` by the rules above. A `$patch: delete` at the
/// root makes `base` null. On error `base` is unchanged. Thread-compatible:
/// no shared state.
absl::Status MergeInto(nlohmann::json& base, const nlohmann::json& patch,
                       const MergeOptions& options);

}  // namespace tether::kube

#endif  // TETHER_KUBE_MERGE_H_
