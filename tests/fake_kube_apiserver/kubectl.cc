#include "tests/fake_kube_apiserver/kubectl.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/test_util.h"

namespace tether::testing {
namespace {

std::string ReadOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  return text.ok() ? *text : "";
}

}  // namespace

KubectlProcess::~KubectlProcess() {
  SignalGroup(pid_, SIGTERM);
  WaitChild(pid_);
}

bool KubectlProcess::WaitForOutput(absl::string_view text,
                                   absl::Duration timeout) const {
  return WaitFor([&] { return absl::StrContains(Output(), text); }, timeout);
}

std::string KubectlProcess::Output() const { return ReadOrEmpty(stdout_path_); }

absl::StatusOr<Kubectl> Kubectl::Create(const std::string& server_url,
                                        const std::string& ns,
                                        const std::string& dir) {
  std::string kubectl = FindKubectl();
  if (kubectl.empty()) return absl::NotFoundError("kubectl is not installed");
  RETURN_IF_ERROR(WriteFileAtomically(
      dir + "/kubeconfig",
      absl::StrCat("apiVersion: v1\nkind: Config\n"
                   "clusters:\n- name: fake\n  cluster:\n    server: ",
                   server_url,
                   "\ncontexts:\n- name: fake\n  context:\n"
                   "    cluster: fake\n    namespace: ",
                   ns, "\ncurrent-context: fake\n")));
  return Kubectl(std::move(kubectl), dir);
}

std::string Kubectl::NewOutputPath(absl::string_view suffix) const {
  static std::atomic<int> counter{0};
  return absl::StrCat(dir_, "/kubectl.", counter++, ".", suffix);
}

absl::StatusOr<pid_t> Kubectl::Spawn(const std::vector<std::string>& args,
                                     const std::string& stdout_path,
                                     const std::string& stderr_path) const {
  ChildSpec spec;
  spec.executable = "/bin/sh";
  // The shell only splits stderr from stdout; the arguments pass through
  // as "$@", unquoted by nobody.
  spec.argv = {"sh",
               "-c",
               "exec \"$@\" 2>\"$KUBECTL_STDERR\"",
               "sh",
               kubectl_,
               absl::StrCat("--kubeconfig=", dir_, "/kubeconfig"),
               absl::StrCat("--cache-dir=", dir_, "/kubectl-cache")};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = {{"KUBECTL_STDERR", stderr_path}};
  spec.socket_type = 0;
  spec.output_path = stdout_path;
  ASSIGN_OR_RETURN(SpawnedChild child, SpawnChild(spec));
  if (child.pidfd >= 0) close(child.pidfd);
  return child.pid;
}

Kubectl::Result Kubectl::Run(const std::vector<std::string>& args) const {
  const std::string out = NewOutputPath("out");
  const std::string err = NewOutputPath("err");
  absl::StatusOr<pid_t> pid = Spawn(args, out, err);
  if (!pid.ok()) {
    return {ProcessExit{ProcessExit::Kind::kExited, 127}, "",
            std::string(pid.status().message())};
  }
  const ProcessExit exit = WaitChild(*pid);
  return {exit, ReadOrEmpty(out), ReadOrEmpty(err)};
}

absl::StatusOr<std::unique_ptr<KubectlProcess>> Kubectl::Start(
    const std::vector<std::string>& args) const {
  const std::string out = NewOutputPath("out");
  ASSIGN_OR_RETURN(pid_t pid, Spawn(args, out, NewOutputPath("err")));
  return std::make_unique<KubectlProcess>(pid, out);
}

}  // namespace tether::testing
