#ifndef TETHER_COMMON_RUNFILES_H_
#define TETHER_COMMON_RUNFILES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether {

/// Finds a file shipped with this binary by its workspace-relative path
/// ("agent/python/tether_runner.pyz"). Looks, in order, under
/// $TETHER_DATA_DIR, Bazel's runfiles ($RUNFILES_DIR, $TEST_SRCDIR, or
/// <exe>.runfiles), and the layout the binaries are installed in (the path
/// relative to the parent of the executable's directory, as in a runfiles
/// tree or an image with /opt/tether/{agent,controlplane,...}).
/// NOT_FOUND lists the places tried.
absl::StatusOr<std::string> FindDataFile(absl::string_view path);

/// Lets child processes find this binary's data files: when run straight
/// from bazel-bin (no $RUNFILES_DIR), exports <exe>.runfiles as
/// $RUNFILES_DIR. Call at the start of main, before threads exist.
void ExportRunfilesDir();

/// Absolute path of the running executable.
std::string SelfExecutable();

}  // namespace tether

#endif  // TETHER_COMMON_RUNFILES_H_
