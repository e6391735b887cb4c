#ifndef TETHER_KUBE_MERGE_H_
#define TETHER_KUBE_MERGE_H_

// The one merge of Kubernetes objects in JSON form, shared by the manifest
// renderer (PodTemplate layering, service_template) and the sidecar injector,
// so a template means the same thing wherever it is applied.
//
// Rules (docs/DESIGN.md, "Kubernetes manifests"):
// - Objects (maps) merge recursively; keys only in `base` are kept.
// - A scalar or null in `overlay` wins over a scalar or null in `base`, of
//   any scalar type: Kubernetes has int-or-string fields (`maxSurge: 1` vs
//   "25%", probe `port: 8080` vs "http"), so a number may become a string.
//   An explicit null wins too; use `$patch: delete` to remove a key.
// - Lists whose field name is in the keyed set merge entry by entry on a key;
//   entries only in `overlay` are appended in overlay order, base order is
//   kept. Keys follow Kubernetes' strategic merge patch, not always `name`:
//     containers, initContainers, ephemeralContainers, env, volumes,
//     imagePullSecrets                                -> name
//     volumeMounts                                    -> mountPath
//     volumeDevices                                   -> devicePath
//     ports            -> containerPort (or Service `port`) + protocol (TCP)
//   volumeMounts and ports do not key on `name` because one volume may be
//   mounted at several paths and container ports usually have no name.
//   The set is chosen by field name alone (the last path segment).
// - Every other list appends overlay entries after base entries. An object
//   entry equal to one already present is dropped (a toleration or spread
//   constraint given by two layers must not appear twice; Kubernetes rejects
//   duplicate spread constraints); scalars always append, because repetition
//   is meaningful in `args` and `command`.
// - `"$patch": "replace"` in an object replaces the base object with the
//   overlay's (minus the directive). A list entry that is exactly
//   `{"$patch": "replace"}` replaces the whole base list with the other
//   overlay entries.
// - `"$patch": "delete"` as an object value removes that key from base; in a
//   keyed list, an entry with its key and `"$patch": "delete"` removes the
//   matching base entry (no-op when absent). `"$patch": "merge"` is the
//   default and a no-op. Directives never appear in the result.
// - Errors are INVALID_ARGUMENT naming the JSON path, e.g.
//   `spec.containers[name=main].resources: expected an object, got a string`:
//   object vs non-object or list vs non-list conflicts ("expected <base
//   type>, got <overlay type>"), keyed-list entries without their key, bad
//   `$patch` values, strategic-merge directives we do not implement
//   (`$setElementOrder/...`, `$retainKeys`, `$deleteFromPrimitiveList/...`),
//   and nesting deeper than kMaxMergeDepth.

#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// Deepest nesting MergeInto accepts; far beyond any Kubernetes object, and
/// keeps hostile input from exhausting the stack.
inline constexpr int kMaxMergeDepth = 100;

/// Merges `overlay` into `base` by the rules above. `path` says where `base`
/// sits in its whole object ("" for the root, or e.g. "spec.template.spec");
/// it prefixes error paths and its last segment selects the list rule when
/// `base` is a list. `base` is expected to be free of `$patch` directives
/// (merge a template into null or {} first to apply them).
/// On error `base` is unchanged. Thread-compatible: no shared state.
absl::Status MergeInto(nlohmann::json& base, const nlohmann::json& overlay,
                       std::string_view path = "");

}  // namespace tether::kube

#endif  // TETHER_KUBE_MERGE_H_
