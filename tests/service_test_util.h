#ifndef TETHER_TESTS_SERVICE_TEST_UTIL_H_
#define TETHER_TESTS_SERVICE_TEST_UTIL_H_

// Helpers for integration tests that deploy Python services to a real
// tetherd (tests/tetherd_client.h) and watch their agents.

#include <sys/types.h>

#include <functional>
#include <string>

#include "absl/time/time.h"
#include "common/test_util.h"
#include "tests/tetherd_client.h"
#include "tether/v1/control_plane.grpc.pb.h"

namespace tether::testing {

/// Uploads `dir` with SyncCode; returns the revision id ("" and a test
/// failure on error).
std::string UploadDir(TetherdClient& tetherd, const std::string& dir);

/// A Python service exposing `app.<callable>`.
tether::v1::ServiceSpec PythonSpec(const std::string& name,
                                   const std::string& callable,
                                   int replicas = 1);

/// Calls `service` once with a JSON payload. Returns the first result's
/// payload, "raised <type>: <message>" when user code raised, or
/// "error <code>: <message>" when the call failed.
std::string CallService(TetherdClient& tetherd, const std::string& service,
                        const std::string& payload = "",
                        tether::v1::CallRequest::Target target =
                            tether::v1::CallRequest::TARGET_ANY);

/// The local backend's work dir of `replica` ("<service>-<index>").
std::string ReplicaDir(const TetherdClient& tetherd,
                       const std::string& replica);

/// The pid of `replica`'s agent process, or -1 while it has none.
pid_t AgentPid(const TetherdClient& tetherd, const std::string& replica);

}  // namespace tether::testing

#endif  // TETHER_TESTS_SERVICE_TEST_UTIL_H_
