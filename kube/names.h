#ifndef TETHER_KUBE_NAMES_H_
#define TETHER_KUBE_NAMES_H_

// The API server's rules for names, label keys and values, as predicates
// (k8s.io/apimachinery/pkg/util/validation). Callers say what was wrong and
// where; these only say whether a string passes. Thread-safe.

#include "absl/strings/string_view.h"

namespace tether::kube {

/// RFC 1123 DNS subdomain: at most 253 characters of dot-separated parts of
/// [a-z0-9-] that start and end alphanumeric. Names of Secrets, ConfigMaps,
/// claims, classes and service accounts.
bool IsDnsSubdomain(absl::string_view s);

/// RFC 1123 label: a DNS subdomain of one part, at most 63 characters.
/// Volume names.
bool IsDnsLabel(absl::string_view s);

/// Label and annotation keys: an optional DNS-subdomain prefix and '/', then
/// a name part (see IsLabelValue).
bool IsQualifiedName(absl::string_view s);

/// Empty, or at most 63 of [A-Za-z0-9-_.] starting and ending alphanumeric.
bool IsLabelValue(absl::string_view s);

/// Keys of Secrets and ConfigMaps (they become file names): at most 253 of
/// [-._a-zA-Z0-9], not "." or "..".
bool IsConfigKey(absl::string_view s);

}  // namespace tether::kube

#endif  // TETHER_KUBE_NAMES_H_
