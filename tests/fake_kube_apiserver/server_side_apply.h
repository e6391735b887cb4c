#ifndef TETHER_TESTS_FAKE_KUBE_APISERVER_SERVER_SIDE_APPLY_H_
#define TETHER_TESTS_FAKE_KUBE_APISERVER_SERVER_SIDE_APPLY_H_

// Server-side apply as the fake API server does it: the applied object is
// merged into the stored one with Tether's strategic merge
// (kube::MergeInto, the stored object's schema type from
// kube/patch_schema.h), so lists merge by the same keys, and each apply
// manager owns the fields it applied, as the real server's managedFields
// record them:
// - a field a manager stops applying is removed, unless another manager
//   owns it (or something inside it);
// - a field another manager owns with a different value is a conflict,
//   unless the apply is forced, which takes the field over;
// - a write that is not an apply (PUT, merge or JSON patch, /scale) takes
//   the fields it changes away from the apply managers.
// See README.md ("Simplified") for what the real server does beyond this.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tether::fake_kube {

/// One field of an object, from the root: map keys (strings), entries of
/// keyed lists (their key fields as an object: {"name":"c"} or
/// {"containerPort":80,"protocol":"TCP"}) and members of merged lists of
/// scalars (the value in a one-element array).
using FieldPath = std::vector<nlohmann::json>;
using FieldSet = std::set<FieldPath>;

/// The fields of one stored object each apply manager owns, by manager.
using FieldOwners = std::map<std::string, FieldSet>;

/// A field an apply would change that another manager owns.
struct ApplyConflict {
  std::string manager;
  /// As the API server writes it: `.spec.replicas`,
  /// `.spec.template.spec.containers[name="c"].image`.
  std::string field;
};

/// Applies `applied` (a whole object) as `manager` to `stored` (null when
/// the object does not exist yet, so it is created) and records what the
/// manager owns in `owners`. Returns the conflicts (non-empty only without
/// `force`), in which case nothing changed. INVALID_ARGUMENT naming the
/// field when the merge refuses `applied` (kube/merge.h); nothing changed
/// then either. Thread-compatible.
absl::StatusOr<std::vector<ApplyConflict>> ServerSideApply(
    const std::string& manager, bool force, const nlohmann::json& applied,
    nlohmann::json& stored, FieldOwners& owners);

/// A write that is not an apply changed `old` into `updated`: the apply
/// managers lose the fields whose values it changed or removed.
void RecordUpdate(const nlohmann::json& old, const nlohmann::json& updated,
                  FieldOwners& owners);

}  // namespace tether::fake_kube

#endif  // TETHER_TESTS_FAKE_KUBE_APISERVER_SERVER_SIDE_APPLY_H_
