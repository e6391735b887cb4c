#ifndef TETHER_AGENT_WORKER_WORKER_TEST_UTIL_H_
#define TETHER_AGENT_WORKER_WORKER_TEST_UTIL_H_

// Test helpers for code that runs real worker processes.

#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/test_util.h"
#include "tether/v1/call.pb.h"
#include "tether/v1/service.pb.h"

namespace tether::agent::testing {

using ::tether::testing::MakeFifo;
using ::tether::testing::OpenFifoWhenReaderArrives;
using ::tether::testing::WaitFor;

/// A fresh directory under $TEST_TMPDIR holding `files` (relative path ->
/// contents). Fails the test on error.
std::string MakeRevisionDir(const std::string& name,
                            const std::map<std::string, std::string>& files);

/// An InvokeRequest.
tether::v1::InvokeRequest Call(
    const std::string& method, const std::string& payload,
    tether::v1::Codec codec = tether::v1::CODEC_JSON);

/// Collects one call's outcome.
class CallWaiter {
 public:
  using Outcome = absl::StatusOr<tether::v1::CallResult>;

  /// The done callback to hand to Invoke; call once per waiter.
  std::function<void(Outcome)> Callback();
  /// Blocks until the callback ran (fails the test after `timeout`).
  Outcome Wait(absl::Duration timeout = absl::Seconds(60));
  bool done() const;

 private:
  mutable absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  Outcome outcome_ ABSL_GUARDED_BY(mu_) = absl::UnknownError("not done");
};

}  // namespace tether::agent::testing

#endif  // TETHER_AGENT_WORKER_WORKER_TEST_UTIL_H_
