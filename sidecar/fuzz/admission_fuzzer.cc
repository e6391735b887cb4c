// libFuzzer target for what tether-injector accepts from the API server:
// an AdmissionReview body. The contract under test: no crash and no
// sanitizer report; a malformed review is a Status; an allowed response
// with a patch carries base64 of a JSON Patch that, applied to
// request.object, gives a pod which a second review leaves alone
// (idempotence), and nothing else.
//
// Built and run outside Bazel by tools/fuzz (clang-14);
// //sidecar/fuzz:admission_fuzzer_seed_test replays the seed corpus under
// Bazel.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "sidecar/admission.h"
#include "sidecar/injector.h"

namespace {

using json = nlohmann::json;
using ::tether::sidecar::InjectorConfig;
using ::tether::sidecar::ReviewAdmission;

void Check(bool ok) {
  if (!ok) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InjectorConfig config;
  config.agent_image = "ghcr.io/tether/agent:1";
  config.tetherd_address = "tetherd:7700";
  // The length's parity picks native or classic sidecars.
  config.native_sidecars = size % 2 == 1;
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<json> review = ReviewAdmission(body, config);
  if (!review.ok()) return 0;
  const json& response = (*review)["response"];
  if (!response.contains("patch")) return 0;
  std::string patch_text;
  Check(response.value("patchType", "") == "JSONPatch");
  Check(
      absl::Base64Unescape(response["patch"].get<std::string>(), &patch_text));
  const json patch = json::parse(patch_text, nullptr, false);
  Check(patch.is_array());
  json again = json::parse(body, nullptr, false);
  json& object = again["request"]["object"];
  // The patch must apply: nlohmann throws on a bad one.
  try {
    object = object.patch(patch);
  } catch (const json::exception&) {
    Check(false);
  }
  absl::StatusOr<json> second = ReviewAdmission(again.dump(), config);
  Check(second.ok());
  Check((*second)["response"].value("allowed", false));
  Check(!(*second)["response"].contains("patch"));
  return 0;
}
