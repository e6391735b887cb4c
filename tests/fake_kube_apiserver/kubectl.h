#ifndef TETHER_TESTS_FAKE_KUBE_APISERVER_KUBECTL_H_
#define TETHER_TESTS_FAKE_KUBE_APISERVER_KUBECTL_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/child_process.h"

namespace tether::testing {

/// A running kubectl (e.g. `get --watch`) whose output the test reads as
/// it comes; stopped on destruction. Not thread-safe.
class KubectlProcess {
 public:
  KubectlProcess(pid_t pid, std::string stdout_path)
      : pid_(pid), stdout_path_(std::move(stdout_path)) {}
  ~KubectlProcess();
  KubectlProcess(const KubectlProcess&) = delete;
  KubectlProcess& operator=(const KubectlProcess&) = delete;

  /// Waits until what it printed to stdout contains `text`, at most
  /// `timeout`; false if it never did.
  bool WaitForOutput(absl::string_view text,
                     absl::Duration timeout = absl::Seconds(20)) const;
  /// What it printed to stdout so far.
  std::string Output() const;

 private:
  const pid_t pid_;
  const std::string stdout_path_;
};

/// kubectl, the client users run, pointed at one API server by a
/// kubeconfig of its own (plain HTTP, no user, a default namespace) with a
/// cache directory of its own. Const methods are thread-safe.
class Kubectl {
 public:
  struct Result {
    ProcessExit exit;
    std::string stdout_text;
    std::string stderr_text;
    bool ok() const { return exit == ProcessExit{}; }
  };

  /// Writes the kubeconfig into `dir`. NOT_FOUND "kubectl is not
  /// installed" when it is on neither PATH, /usr/local/bin nor /usr/bin
  /// (tests skip then).
  static absl::StatusOr<Kubectl> Create(const std::string& server_url,
                                        const std::string& ns,
                                        const std::string& dir);

  /// Runs `kubectl args...` to its end.
  Result Run(const std::vector<std::string>& args) const;

  /// Starts `kubectl args...` and leaves it running.
  absl::StatusOr<std::unique_ptr<KubectlProcess>> Start(
      const std::vector<std::string>& args) const;

 private:
  Kubectl(std::string kubectl, std::string dir)
      : kubectl_(std::move(kubectl)), dir_(std::move(dir)) {}
  // Spawns kubectl with stdout and stderr to files of their own.
  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& args,
                              const std::string& stdout_path,
                              const std::string& stderr_path) const;
  std::string NewOutputPath(absl::string_view suffix) const;

  std::string kubectl_;
  std::string dir_;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_FAKE_KUBE_APISERVER_KUBECTL_H_
