#include "tests/fake_kube_apiserver/fake_kube_apiserver_process.h"

#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/exec_args.h"
#include "common/runfiles.h"
#include "common/status_macros.h"

namespace tether::testing {

absl::StatusOr<std::unique_ptr<FakeKubeApiserverProcess>>
FakeKubeApiserverProcess::Start(std::vector<std::string> flags) {
  ASSIGN_OR_RETURN(
      std::string binary,
      FindDataFile("tests/fake_kube_apiserver/fake_kube_apiserver"));
  const char* tmp = getenv("TEST_TMPDIR");
  static int instance = 0;
  const std::string port_file =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/fake_kube_apiserver.",
                   getpid(), ".", instance++, ".port");
  unlink(port_file.c_str());
  flags.insert(flags.begin(),
               {binary, "--port=0", absl::StrCat("--port_file=", port_file)});
  std::vector<char*> argv = ExecArgs(flags);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  // The port file is written atomically once the server listens.
  int port = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (port == 0 && absl::Now() < deadline) {
    std::ifstream in(port_file);
    if (!(in >> port)) {
      port = 0;
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  auto process =
      std::unique_ptr<FakeKubeApiserverProcess>(new FakeKubeApiserverProcess(
          pid, absl::StrCat("http://127.0.0.1:", port)));
  if (port == 0) {
    return absl::DeadlineExceededError("fake_kube_apiserver did not start");
  }
  return process;
}

FakeKubeApiserverProcess::~FakeKubeApiserverProcess() {
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
}

absl::StatusOr<std::string> FakeKubeApiserverProcess::Send(
    const std::string& method, const std::string& path,
    const std::string& body) const {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string response;
  const std::string url = url_ + path;
  curl_slist* headers =
      curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (!body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE,
                     static_cast<long>(body.size()));
  }
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION,
      +[](char* data, size_t size, size_t count, void* out) {
        static_cast<std::string*>(out)->append(data, size * count);
        return size * count;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  const CURLcode result = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (result != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat(method, " ", url, ": ", curl_easy_strerror(result)));
  }
  if (code >= 400) {
    return absl::UnknownError(
        absl::StrCat(method, " ", path, ": HTTP ", code, ": ", response));
  }
  return response;
}

absl::Status FakeKubeApiserverProcess::SetPodLog(const std::string& ns,
                                                 const std::string& pod,
                                                 const std::string& container,
                                                 const std::string& log,
                                                 bool previous) const {
  return Send("PUT",
              absl::StrCat("/_fake/logs/api/v1/namespaces/", ns, "/pods/", pod,
                           "?container=", container,
                           previous ? "&previous=true" : ""),
              log)
      .status();
}

}  // namespace tether::testing
