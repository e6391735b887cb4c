#ifndef TETHER_SIDECAR_JSON_PATCH_H_
#define TETHER_SIDECAR_JSON_PATCH_H_

// RFC 6902 JSON Patch from one JSON document to another, for the admission
// response: the API server applies it to the object it sent, so the patch
// touches only what the injector changed and never re-encodes the rest.

#include <string>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace tether::sidecar {

/// `token` as one RFC 6901 reference token: `~` becomes `~0`, `/` `~1`
/// (label and annotation keys such as `tether.dev/status` contain `/`).
std::string EscapePointerToken(absl::string_view token);

/// The operations that turn `from` into `to`, as a JSON array, applied in
/// order. Deterministic and small: objects differ key by key (in key
/// order); a list of scalars that differs (command, args) is replaced
/// whole; another list keeps the common prefix and suffix of the same
/// entries (objects with the same "name", else equal values), diffed in
/// place, and the run between them is diffed pairwise, then added to or
/// removed from at its end. So entries put at the front of a list are
/// `add`s at their indices, not a rewrite of the entries after them. A
/// value of another type is replaced. Equal documents give `[]`.
/// Thread-safe.
nlohmann::json DiffJsonPatch(const nlohmann::json& from,
                             const nlohmann::json& to);

}  // namespace tether::sidecar

#endif  // TETHER_SIDECAR_JSON_PATCH_H_
