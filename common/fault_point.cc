#include "common/fault_point.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace tether {
namespace {

struct Armed {
  std::string name;    // Empty: no fault point set.
  std::string marker;  // Empty: fire every time.
};

const Armed& ArmedPoint() {
  static const Armed* const armed = [] {
    auto* armed = new Armed;
    const char* value = getenv("TETHER_FAULT_POINT");
    if (value == nullptr) return armed;
    const absl::string_view spec(value);
    const size_t colon = spec.find(':');
    armed->name = std::string(spec.substr(0, colon));
    if (colon != absl::string_view::npos) {
      armed->marker = std::string(spec.substr(colon + 1));
    }
    return armed;
  }();
  return *armed;
}

}  // namespace

void FaultPoint(absl::string_view name) {
  const Armed& armed = ArmedPoint();
  if (armed.name.empty() || armed.name != name) return;
  if (!armed.marker.empty()) {
    const int fd = open(armed.marker.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return;  // Fired already (or cannot tell): run on.
    close(fd);
  }
  const std::string line = absl::StrCat("fault point ", name, ": SIGKILL\n");
  // Best effort: the line only helps whoever reads the log.
  (void)!write(STDERR_FILENO, line.data(), line.size());
  kill(getpid(), SIGKILL);
}

}  // namespace tether
