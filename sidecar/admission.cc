#include "sidecar/admission.h"

#include <string>

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

}  // namespace

absl::StatusOr<json> ReviewAdmission(absl::string_view body,
                                     const InjectorConfig& config) {
  RETURN_IF_ERROR(ValidateInjectorConfig(config));
  ASSIGN_OR_RETURN(const json review, Parse(body));
  const json& request = review["request"];
  json answer = {{"apiVersion", kApiVersion},
                 {"kind", "AdmissionReview"},
                 {"response", {{"uid", request["uid"]}, {"allowed", true}}}};
  json& response = answer["response"];
  if (!IsPodCreate(request)) return answer;
  const json& pod = Field(request, "object");
  if (!pod.is_object()) return Invalid("request.object", "required");
  // The config is valid, so every error is the pod's.
  absl::StatusOr<Injection> injection = InjectPod(pod, config);
  if (!injection.ok()) {
    response["allowed"] = false;
    response["status"] = {{"code", 400},
                          {"message", injection.status().message()}};
    return answer;
  }
  if (!injection->warnings.empty()) response["warnings"] = injection->warnings;
  if (injection->injected) {
    response["patchType"] = "JSONPatch";
    response["patch"] =
        absl::Base64Escape(DiffJsonPatch(pod, injection->pod).dump());
  }
  return answer;
}

}  // namespace tether::sidecar
