#include "kube/manifest_validator.h"

#include <stdio.h>
#include <sys/wait.h>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/runfiles.h"

namespace tether::kube {

ValidatorRun ValidateManifests(const std::vector<std::string>& files) {
  ValidatorRun run;
  const absl::StatusOr<std::string> script =
      FindDataFile("kube/validate_manifests.py");
  if (!script.ok()) {
    run.output = std::string(script.status().message());
    return run;
  }
  std::string command = absl::StrCat("/usr/bin/python3 ", *script);
  for (const std::string& file : files) absl::StrAppend(&command, " ", file);
  absl::StrAppend(&command, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    run.output = absl::StrCat("cannot run ", command);
    return run;
  }
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    run.output.append(buffer, n);
  }
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

}  // namespace tether::kube
