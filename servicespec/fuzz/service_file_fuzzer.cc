// libFuzzer target for service files (`tether deploy -f`, and every
// example a user copies): ParseServiceFile's YAML -> proto -> validate. The
// contract under test: no crash, no sanitizer report, every rejection is a
// Status; an accepted spec validates again, with defaults filled in too,
// and survives a binary round trip; parsing is deterministic.
//
// Built and run outside Bazel by tools/fuzz (clang-14);
// //servicespec/fuzz:service_file_fuzzer_seed_test replays the seeds under
// Bazel.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/util/message_differencer.h"
#include "servicespec/service_file.h"
#include "servicespec/validate.h"
#include "tether/v1/service.pb.h"

namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::tether::servicespec::ParseServiceFile;
using ::tether::servicespec::ServiceFile;

void Check(bool ok) {
  if (!ok) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view yaml(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ServiceFile> file = ParseServiceFile(yaml, "svc/service.yaml");
  absl::StatusOr<ServiceFile> again =
      ParseServiceFile(yaml, "svc/service.yaml");
  Check(file.ok() == again.ok());
  if (!file.ok()) {
    Check(file.status() == again.status());
    return 0;
  }
  // Field by field: maps (env, init_kwargs) serialize in any order.
  Check(MessageDifferencer::Equals(file->spec, again->spec));
  Check(file->code_dir == again->code_dir);
  tether::v1::ServiceSpec parsed;
  Check(parsed.ParseFromString(file->spec.SerializeAsString()));
  Check(MessageDifferencer::Equals(parsed, file->spec));
  Check(tether::servicespec::ValidateServiceSpec(parsed).ok());
  Check(tether::servicespec::ValidateServiceSpec(
            tether::servicespec::WithDefaults(parsed))
            .ok());
  return 0;
}
