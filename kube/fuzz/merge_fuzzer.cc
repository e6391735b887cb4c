// libFuzzer target for the strategic merge and PodTemplate layering of
// user-written Kubernetes JSON (service_template, PodTemplate layers):
// MergeInto of two arbitrary JSON values. The contract under test: no
// crash, no sanitizer report, no stack exhaustion; a failed merge leaves
// the base unchanged; a merge is deterministic.
//
// Input: one byte (bit 0: mode, bit 1: type PodTemplateSpec or none), then
// a JSON array [base, patch].
//
// Built and run outside Bazel by tools/fuzz (clang-14);
// //kube/fuzz:merge_fuzzer_seed_test replays the seeds under Bazel.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "kube/merge.h"
#include "kube/patch_schema.h"
#include "nlohmann/json.hpp"

namespace {

using json = nlohmann::json;

void Check(bool ok) {
  if (!ok) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const json input = json::parse(data + 1, data + size, nullptr, false);
  if (!input.is_array() || input.size() != 2) return 0;
  tether::kube::MergeOptions options;
  options.mode = data[0] & 1 ? tether::kube::MergeMode::kLayer
                             : tether::kube::MergeMode::kStrategicPatch;
  if (data[0] & 2) options.type = tether::kube::kPodTemplateSpecType;
  json base = input[0];
  const absl::Status status = tether::kube::MergeInto(base, input[1], options);
  if (!status.ok()) {
    Check(base == input[0]);
    return 0;
  }
  json again = input[0];
  Check(tether::kube::MergeInto(again, input[1], options).ok());
  Check(again == base);
  return 0;
}
