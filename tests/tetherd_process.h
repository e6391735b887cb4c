#ifndef TETHER_TESTS_TETHERD_PROCESS_H_
#define TETHER_TESTS_TETHERD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/tetherd_client.h"

namespace tether::testing {

/// A real `tetherd` process for integration tests and benchmarks about the
/// process itself (kill -9, restart, signals, flags): loopback, port 0, its
/// own state dir. Stopped (SIGTERM) on destruction. Tests that only need a
/// tetherd use InProcessTetherd. Not thread-safe.
class TetherdProcess final : public TetherdClient {
 public:
  /// Starts tetherd with `--listen=127.0.0.1:0 --state_dir=<state_dir>` plus
  /// `extra_flags`, and waits until it serves.
  static absl::StatusOr<std::unique_ptr<TetherdProcess>> Start(
      const std::string& state_dir, std::vector<std::string> extra_flags = {});
  ~TetherdProcess() override;

  /// Ends the process: SIGTERM (clean) or SIGKILL (crash), then reaps it.
  void Stop();
  void Kill();
  /// Waits up to `timeout` for the process to die of SIGKILL on its own (a
  /// fault point, common/fault_point.h) and reaps it; false when it still
  /// runs or ended another way.
  bool WaitUntilKilled(absl::Duration timeout);
  /// Starts a new tetherd on the same state dir and port.
  absl::Status Restart();

 private:
  TetherdProcess(std::string state_dir, std::vector<std::string> flags)
      : TetherdClient(std::move(state_dir)), flags_(std::move(flags)) {}
  absl::Status Launch();

  const std::vector<std::string> flags_;
  pid_t pid_ = 0;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_TETHERD_PROCESS_H_
