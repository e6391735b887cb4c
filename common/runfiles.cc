#include "common/runfiles.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tether {

std::string SelfExecutable() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

void ExportRunfilesDir() {
  if (getenv("RUNFILES_DIR") != nullptr || getenv("TEST_SRCDIR") != nullptr) {
    return;
  }
  const std::string runfiles = SelfExecutable() + ".runfiles";
  if (access((runfiles + "/tether").c_str(), F_OK) == 0) {
    setenv("RUNFILES_DIR", runfiles.c_str(), 0);
  }
}

absl::StatusOr<std::string> FindDataFile(absl::string_view path) {
  std::vector<std::string> candidates;
  if (const char* dir = getenv("TETHER_DATA_DIR")) {
    candidates.push_back(absl::StrCat(dir, "/", path));
  }
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    if (const char* dir = getenv(var)) {
      candidates.push_back(absl::StrCat(dir, "/tether/", path));
    }
  }
  const std::string exe = SelfExecutable();
  if (!exe.empty()) {
    candidates.push_back(absl::StrCat(exe, ".runfiles/tether/", path));
    const std::string exe_dir = exe.substr(0, exe.rfind('/'));
    candidates.push_back(absl::StrCat(exe_dir, "/../", path));
  }
  for (const std::string& candidate : candidates) {
    if (access(candidate.c_str(), F_OK) == 0) {
      char resolved[PATH_MAX];
      if (realpath(candidate.c_str(), resolved) != nullptr)
        return std::string(resolved);
      return candidate;
    }
  }
  return absl::NotFoundError(absl::StrCat("cannot find ", path, "; looked at ",
                                          absl::StrJoin(candidates, ", ")));
}

}  // namespace tether
