#include "sidecar/admission.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kube/json_fields.h"
#include "sidecar/json_patch.h"

namespace tether::sidecar {
namespace {

using json = nlohmann::json;
using kube::Field;
using kube::StringField;

constexpr char kApiVersion[] = "admission.k8s.io/v1";

absl::Status Invalid(absl::string_view field, absl::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat("AdmissionReview ", field, ": ", reason));
}

absl::StatusOr<json> Parse(absl::string_view body) {
  bool too_deep = false;
  json review = json::parse(
      body,
      [&](int depth, json::parse_event_t, json&) {
        if (depth > kMaxReviewDepth) too_deep = true;
        return !too_deep;
      },
      /*allow_exceptions=*/false);
  if (too_deep) {
    return Invalid("body",
                   absl::StrCat("nested deeper than ", kMaxReviewDepth));
  }
  if (review.is_discarded()) return Invalid("body", "not JSON");
  if (StringField(review, "apiVersion") != kApiVersion ||
      StringField(review, "kind") != "AdmissionReview") {
    return Invalid("apiVersion/kind",
                   absl::StrCat("want ", kApiVersion, " AdmissionReview"));
  }
  if (!Field(Field(review, "request"), "uid").is_string()) {
    return Invalid("request.uid", "required");
  }
  return review;
}

bool IsPodCreate(const json& request) {
  const json& kind = Field(request, "kind");
  return StringField(request, "operation") == "CREATE" &&
         StringField(kind, "group").empty() &&
         StringField(kind, "version") == "v1" &&
         StringField(kind, "kind") == "Pod";
}

// The Event for an opted-in pod's review; nullopt for other pods.
std::optional<AdmissionEvent> EventFor(
    const json& request, const json& pod,
    const absl::StatusOr<Injection>& injection) {
  AdmissionEvent event;
  if (!injection.ok()) {
    event.warning = true;
    event.reason = "TetherInjectionDenied";
    event.message = std::string(injection.status().message());
  } else if (injection->injected) {
    event.reason = "TetherInjected";
    event.message = injection->description;
  } else if (injection->opted_in) {
    event.reason = "TetherSkipped";
    event.message = absl::StrCat("not injected: ", injection->skipped);
  } else {
    return std::nullopt;
  }
  std::optional<kube::ObjectReference> subject =
      kube::EventSubject(pod, StringField(request, "namespace"));
  if (!subject.has_value()) return std::nullopt;
  event.subject = *std::move(subject);
  return event;
}

}  // namespace

absl::StatusOr<Admission> Admit(absl::string_view body,
                                const InjectorConfig& config) {
  RETURN_IF_ERROR(ValidateInjectorConfig(config));
  ASSIGN_OR_RETURN(const json review, Parse(body));
  const json& request = review["request"];
  Admission admission;
  admission.review = {
      {"apiVersion", kApiVersion},
      {"kind", "AdmissionReview"},
      {"response", {{"uid", request["uid"]}, {"allowed", true}}}};
  json& response = admission.review["response"];
  if (!IsPodCreate(request)) return admission;
  const json& pod = Field(request, "object");
  if (!pod.is_object()) return Invalid("request.object", "required");
  // The config is valid, so every error is the pod's.
  const absl::StatusOr<Injection> injection = InjectPod(pod, config);
  admission.event = EventFor(request, pod, injection);
  if (!injection.ok()) {
    response["allowed"] = false;
    response["status"] = {{"code", 400},
                          {"message", injection.status().message()}};
    return admission;
  }
  if (!injection->warnings.empty()) response["warnings"] = injection->warnings;
  if (injection->injected) {
    response["patchType"] = "JSONPatch";
    response["patch"] =
        absl::Base64Escape(DiffJsonPatch(pod, injection->pod).dump());
  }
  return admission;
}

void RecordAdmissionEvent(kube::EventRecorder& recorder,
                          const AdmissionEvent& event) {
  recorder.Record(event.subject,
                  event.warning ? kube::EventRecorder::Type::kWarning
                                : kube::EventRecorder::Type::kNormal,
                  event.reason, event.message);
}

absl::StatusOr<json> ReviewAdmission(absl::string_view body,
                                     const InjectorConfig& config) {
  ASSIGN_OR_RETURN(Admission admission, Admit(body, config));
  return std::move(admission.review);
}

}  // namespace tether::sidecar
