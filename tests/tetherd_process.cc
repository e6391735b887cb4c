#include "tests/tetherd_process.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/exec_args.h"
#include "common/files.h"
#include "common/runfiles.h"
#include "grpcpp/grpcpp.h"

namespace tether::testing {

std::string NewTempDir(const std::string& prefix) {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl =
      absl::StrCat(base != nullptr ? base : "/tmp", "/", prefix, ".XXXXXX");
  return mkdtemp(tmpl.data());
}

void WriteTree(const std::string& dir,
               const std::vector<std::pair<std::string, std::string>>& files) {
  for (const auto& [path, contents] : files) {
    const std::string full = absl::StrCat(dir, "/", path);
    (void)MakeDirs(full.substr(0, full.rfind('/')));
    (void)WriteFileAtomically(full, contents);
  }
}

absl::StatusOr<std::unique_ptr<TetherdProcess>> TetherdProcess::Start(
    const std::string& state_dir, std::vector<std::string> extra_flags) {
  std::unique_ptr<TetherdProcess> process(
      new TetherdProcess(state_dir, std::move(extra_flags)));
  absl::Status status = process->Launch();
  if (!status.ok()) return status;
  return process;
}

TetherdProcess::~TetherdProcess() { Stop(); }

absl::Status TetherdProcess::Launch() {
  absl::StatusOr<std::string> binary = FindDataFile("controlplane/tetherd");
  if (!binary.ok()) return binary.status();
  const std::string endpoint_file = state_dir_ + "/tetherd.endpoint";
  unlink(endpoint_file.c_str());
  // A restart keeps the port, as a Kubernetes Service keeps tetherd's
  // address, so agents dialing the old one find the new tetherd.
  const std::string listen = address_.empty() ? "127.0.0.1:0" : address_;
  std::vector<std::string> args = {*binary, absl::StrCat("--listen=", listen),
                                   absl::StrCat("--state_dir=", state_dir_)};
  args.insert(args.end(), flags_.begin(), flags_.end());
  std::vector<char*> argv = ExecArgs(args);
  pid_ = fork();
  if (pid_ == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> endpoint = ReadFile(endpoint_file);
    if (endpoint.ok() && !endpoint->empty()) {
      address_ = *endpoint;
      stub_ = tether::v1::ControlPlane::NewStub(
          grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
      return absl::OkStatus();
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      return absl::InternalError("tetherd exited during start-up");
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError("tetherd did not start in 30 s");
}

void TetherdProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
  pid_ = 0;
}

void TetherdProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = 0;
}

grpc::Status TetherdProcess::Deploy(
    const tether::v1::ServiceSpec& spec, const std::string& revision,
    std::vector<tether::v1::DeployEvent>* events) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  tether::v1::DeployRequest request;
  *request.mutable_spec() = spec;
  request.set_revision(revision);
  auto reader = stub_->Deploy(&context, request);
  tether::v1::DeployEvent event;
  while (reader->Read(&event)) {
    if (events != nullptr) events->push_back(event);
  }
  return reader->Finish();
}

absl::Status TetherdProcess::Restart() {
  Stop();
  return Launch();
}

}  // namespace tether::testing
