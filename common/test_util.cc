#include "common/test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/runfiles.h"
#include "gtest/gtest.h"

namespace tether::testing {

bool MakeCertificates(const std::string& dir) {
  absl::StatusOr<std::string> script = FindDataFile("deploy/make_certs.sh");
  if (!script.ok()) {
    fprintf(stderr, "%s\n", script.status().ToString().c_str());
    return false;
  }
  return system(absl::StrCat(*script, " ", dir, " >/dev/null").c_str()) == 0;
}

std::string FindKubectl() {
  std::vector<std::string> dirs;
  if (const char* path = getenv("PATH")) {
    dirs = absl::StrSplit(path, ':', absl::SkipEmpty());
  }
  for (const char* dir : {"/usr/local/bin", "/usr/bin"}) dirs.push_back(dir);
  for (const std::string& dir : dirs) {
    std::string candidate = absl::StrCat(dir, "/kubectl");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

int UnusedLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool bound =
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  return bound ? ntohs(addr.sin_port) : 0;
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

void MakeFifo(const std::string& path) {
  unlink(path.c_str());
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0) << path;
}

int OpenFifoWhenReaderArrives(const std::string& path, absl::Duration timeout) {
  int fd = -1;
  WaitFor(
      [&] {
        // ENXIO until someone opened it for reading.
        fd = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        return fd >= 0 || errno != ENXIO;
      },
      timeout);
  return fd;
}

}  // namespace tether::testing
