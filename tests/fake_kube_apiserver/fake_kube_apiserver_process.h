#ifndef TETHER_TESTS_FAKE_KUBE_APISERVER_FAKE_KUBE_APISERVER_PROCESS_H_
#define TETHER_TESTS_FAKE_KUBE_APISERVER_FAKE_KUBE_APISERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tether::testing {

/// The fake_kube_apiserver binary (README.md beside it) running on a free
/// loopback port for one test; stopped on destruction. The test declares
/// `//tests/fake_kube_apiserver:fake_kube_apiserver` as data.
/// Not thread-safe.
class FakeKubeApiserverProcess {
 public:
  /// Starts it with `--port=0` plus `flags` and waits until it listens.
  static absl::StatusOr<std::unique_ptr<FakeKubeApiserverProcess>> Start(
      std::vector<std::string> flags = {});
  ~FakeKubeApiserverProcess();

  /// "http://127.0.0.1:PORT".
  const std::string& url() const { return url_; }

  /// One HTTP request with a JSON body (may be empty), e.g. to the test
  /// hooks: Send("PUT", "/_fake/status/api/v1/namespaces/ns/pods/p", ...).
  /// Returns the response body; an HTTP error is UNKNOWN with the status
  /// code and body in the message.
  absl::StatusOr<std::string> Send(const std::string& method,
                                   const std::string& path,
                                   const std::string& body = "") const;

  /// Keeps `log` ("<RFC 3339 time> <text>\n" lines; kube::FormatLogTime
  /// makes the times) as what `container` of pod `ns/pod` printed, in its
  /// current instance or, with `previous`, its last terminated one.
  absl::Status SetPodLog(const std::string& ns, const std::string& pod,
                         const std::string& container, const std::string& log,
                         bool previous = false) const;

 private:
  FakeKubeApiserverProcess(pid_t pid, std::string url)
      : pid_(pid), url_(std::move(url)) {}

  const pid_t pid_;
  const std::string url_;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_FAKE_KUBE_APISERVER_FAKE_KUBE_APISERVER_PROCESS_H_
