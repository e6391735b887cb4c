#ifndef TETHER_TESTS_TETHERD_CLIENT_H_
#define TETHER_TESTS_TETHERD_CLIENT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/tls.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {

/// A tetherd under test as tests talk to it, whether it runs as a process
/// (tetherd_process.h) or in the test (in_process_tetherd.h).
/// Not thread-safe to reconnect; the stub is thread-safe.
class TetherdClient {
 public:
  virtual ~TetherdClient() = default;

  /// Deploys `spec` at `revision` and follows the stream to its end;
  /// appends the events to `events` when given.
  grpc::Status Deploy(const tether::v1::ServiceSpec& spec,
                      const std::string& revision,
                      std::vector<tether::v1::DeployEvent>* events = nullptr);

  /// The agent token of `service`, as callers that may call it get it:
  /// from the first message of WatchEndpoints ("" on error).
  std::string ServiceToken(const std::string& service);

  /// Talks TLS with `tls` (common/tls.h) from now on; the files must be
  /// good.
  void UseTls(const TlsFiles& tls);

  const std::string& address() const { return address_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const std::string& state_dir() const { return state_dir_; }
  tether::v1::ControlPlane::Stub& stub() { return *stub_; }

 protected:
  explicit TetherdClient(std::string state_dir)
      : state_dir_(std::move(state_dir)) {}
  /// Points address() and stub() at a tetherd serving at `address`.
  void Connect(std::string address);

 private:
  const std::string state_dir_;
  std::string address_;
  TlsFiles tls_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tether::v1::ControlPlane::Stub> stub_;
};

/// A fresh directory under $TEST_TMPDIR (or /tmp).
std::string NewTempDir(const std::string& prefix);

/// Writes `files` (relative path → contents) under `dir`.
void WriteTree(const std::string& dir,
               const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace tether::testing

#endif  // TETHER_TESTS_TETHERD_CLIENT_H_
