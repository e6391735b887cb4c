#ifndef TETHER_TESTS_IN_PROCESS_TETHERD_H_
#define TETHER_TESTS_IN_PROCESS_TETHERD_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controlplane/tetherd.h"
#include "tests/tetherd_client.h"

namespace tether::testing {

/// The whole tetherd (controlplane::Tetherd) inside the test process, for
/// integration tests where a subprocess adds nothing: loopback, port 0, its
/// own state dir, agents from the test's runfiles (//agent:tether-agent in
/// the test's data). Replicas still run as real agent processes. Shut down
/// on destruction. Not thread-safe.
class InProcessTetherd final : public TetherdClient {
 public:
  /// Creates tetherd from `options` with listen_address 127.0.0.1:0 and
  /// `state_dir`.
  static absl::StatusOr<std::unique_ptr<InProcessTetherd>> Start(
      const std::string& state_dir,
      controlplane::Tetherd::Options options = {});

  controlplane::Tetherd& tetherd() { return *tetherd_; }

 private:
  InProcessTetherd(std::string state_dir,
                   std::unique_ptr<controlplane::Tetherd> tetherd);

  const std::unique_ptr<controlplane::Tetherd> tetherd_;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_IN_PROCESS_TETHERD_H_
