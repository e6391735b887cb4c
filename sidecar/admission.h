#ifndef TETHER_SIDECAR_ADMISSION_H_
#define TETHER_SIDECAR_ADMISSION_H_

// The admission.k8s.io/v1 AdmissionReview exchange of tether-injector: a
// review of a Pod CREATE in, the review with its response out. The HTTPS
// server around it is sidecar/webhook_server.h.

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "sidecar/injector.h"

namespace tether::sidecar {

/// Deepest JSON nesting accepted in a review; far beyond any pod, and keeps
/// hostile input from exhausting the stack.
inline constexpr int kMaxReviewDepth = 100;

/// Answers the AdmissionReview in `body`:
///  - `response.uid` echoes `request.uid`;
///  - anything but a CREATE of a v1 Pod, or a pod InjectPod leaves alone, is
///    allowed unchanged (with InjectPod's warnings, if any);
///  - an injected pod is allowed with `patchType: JSONPatch` and `patch`,
///    the base64 of an RFC 6902 patch against `request.object` as sent;
///  - a pod InjectPod refuses is denied: `allowed: false`, `status.code`
///    400 and `status.message` InjectPod's message.
/// INVALID_ARGUMENT when `body` is not an AdmissionReview v1 with a
/// `request` carrying a string `uid` and, for a Pod CREATE, an object
/// `object` (the server answers 400: there is no uid to answer to); also
/// for a bad `config`. Thread-safe.
absl::StatusOr<nlohmann::json> ReviewAdmission(absl::string_view body,
                                               const InjectorConfig& config);

}  // namespace tether::sidecar

#endif  // TETHER_SIDECAR_ADMISSION_H_
