#ifndef TETHER_TESTS_TETHERD_PROCESS_H_
#define TETHER_TESTS_TETHERD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {

/// A real `tetherd` process for integration tests and benchmarks: loopback,
/// port 0, its own state dir. Stopped (SIGTERM) on destruction.
/// Not thread-safe.
class TetherdProcess {
 public:
  /// Starts tetherd with `--listen=127.0.0.1:0 --state_dir=<state_dir>` plus
  /// `extra_flags`, and waits until it serves.
  static absl::StatusOr<std::unique_ptr<TetherdProcess>> Start(
      const std::string& state_dir, std::vector<std::string> extra_flags = {});
  ~TetherdProcess();

  /// Ends the process: SIGTERM (clean) or SIGKILL (crash), then reaps it.
  void Stop();
  void Kill();
  /// Starts a new tetherd on the same state dir and port.
  absl::Status Restart();

  /// Deploys `spec` at `revision` and follows the stream to its end;
  /// appends the events to `events` when given.
  grpc::Status Deploy(const tether::v1::ServiceSpec& spec,
                      const std::string& revision,
                      std::vector<tether::v1::DeployEvent>* events = nullptr);

  const std::string& address() const { return address_; }
  const std::string& state_dir() const { return state_dir_; }
  tether::v1::ControlPlane::Stub& stub() { return *stub_; }

 private:
  TetherdProcess(std::string state_dir, std::vector<std::string> flags)
      : state_dir_(std::move(state_dir)), flags_(std::move(flags)) {}
  absl::Status Launch();

  const std::string state_dir_;
  const std::vector<std::string> flags_;
  pid_t pid_ = 0;
  std::string address_;
  std::unique_ptr<tether::v1::ControlPlane::Stub> stub_;
};

/// A fresh directory under $TEST_TMPDIR (or /tmp).
std::string NewTempDir(const std::string& prefix);

/// Writes `files` (relative path → contents) under `dir`.
void WriteTree(const std::string& dir,
               const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace tether::testing

#endif  // TETHER_TESTS_TETHERD_PROCESS_H_
