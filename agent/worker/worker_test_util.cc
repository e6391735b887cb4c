#include "agent/worker/worker_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gtest/gtest.h"

namespace tether::agent::testing {

std::string MakeRevisionDir(const std::string& name,
                            const std::map<std::string, std::string>& files) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  EXPECT_TRUE(RemoveAll(dir).ok());
  EXPECT_TRUE(MakeDirs(dir).ok());
  for (const auto& [path, contents] : files) {
    const std::string full = absl::StrCat(dir, "/", path);
    EXPECT_TRUE(MakeDirs(full.substr(0, full.rfind('/'))).ok());
    EXPECT_TRUE(WriteFileAtomically(full, contents).ok()) << full;
  }
  return dir;
}

tether::v1::InvokeRequest Call(const std::string& method,
                               const std::string& payload,
                               tether::v1::Codec codec) {
  tether::v1::InvokeRequest request;
  request.set_method(method);
  request.set_codec(codec);
  request.set_payload(payload);
  return request;
}

std::function<void(CallWaiter::Outcome)> CallWaiter::Callback() {
  return [this](Outcome outcome) {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(done_) << "done callback ran twice";
    outcome_ = std::move(outcome);
    done_ = true;
  };
}

CallWaiter::Outcome CallWaiter::Wait(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  if (!mu_.AwaitWithTimeout(absl::Condition(&done_), timeout)) {
    ADD_FAILURE() << "call did not complete within " << timeout;
    return absl::DeadlineExceededError("test timeout");
  }
  return outcome_;
}

bool CallWaiter::done() const {
  absl::MutexLock lock(&mu_);
  return done_;
}

}  // namespace tether::agent::testing
