#ifndef TETHER_SIDECAR_ADMISSION_H_
#define TETHER_SIDECAR_ADMISSION_H_

// The admission.k8s.io/v1 AdmissionReview exchange of tether-injector: a
// review of a Pod CREATE in, the review with its response out. The HTTPS
// server around it is sidecar/webhook_server.h.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kube/event_recorder.h"
#include "nlohmann/json.hpp"
#include "sidecar/injector.h"

namespace tether::sidecar {

/// Deepest JSON nesting accepted in a review; far beyond any pod, and keeps
/// hostile input from exhausting the stack.
inline constexpr int kMaxReviewDepth = 100;

/// The Event a review calls for, on what the pod belongs to
/// (kube::EventSubject: its controller, else the pod when named).
struct AdmissionEvent {
  kube::ObjectReference subject;
  bool warning = false;
  /// TetherInjected, TetherSkipped (an opted-in pod left alone) or
  /// TetherInjectionDenied (warning).
  std::string reason;
  std::string message;
};

/// A review answered, and the Event it calls for: none for anything but
/// a Pod CREATE, for pods that did not opt in, and for unowned pods
/// without a name.
struct Admission {
  nlohmann::json review;
  std::optional<AdmissionEvent> event;
};

/// ReviewAdmission's answer and the Event to record about it. Same errors.
absl::StatusOr<Admission> Admit(absl::string_view body,
                                const InjectorConfig& config);

/// Records `event` with `recorder` (asynchronously: never blocks).
void RecordAdmissionEvent(kube::EventRecorder& recorder,
                          const AdmissionEvent& event);

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
