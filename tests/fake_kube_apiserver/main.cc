// fake_kube_apiserver: an in-memory stand-in for the Kubernetes API server,
// for integration tests of Tether's Kubernetes backend. See README.md.

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/log.h"
#include "tests/fake_kube_apiserver/api_server.h"
#include "tests/fake_kube_apiserver/http_server.h"

ABSL_FLAG(int, port, 0, "Port on 127.0.0.1; 0 picks a free one.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written here (atomically, via rename) "
          "once the server accepts connections.");
ABSL_FLAG(int, history_size, 1000,
          "Watch events kept; older resourceVersions get 410 Expired.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  tether::fake_kube::ApiServer api(
      static_cast<size_t>(absl::GetFlag(FLAGS_history_size)));
  absl::StatusOr<std::unique_ptr<tether::CivetwebServer>> server =
      tether::fake_kube::ServeHttp(
          absl::GetFlag(FLAGS_port),
          [&api](const tether::fake_kube::HttpRequest& req,
                 tether::fake_kube::ResponseWriter& w) { api.Handle(req, w); });
  TETHER_CHECK(server.ok()) << server.status();
  const int port = (*server)->port();
  std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    // Rename so a poller never reads a half-written file.
    std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << port << "\n";
    TETHER_CHECK(std::rename(tmp.c_str(), port_file.c_str()) == 0)
        << "cannot write " << port_file;
  }
  std::printf("listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  // Serves on civetweb's threads until SIGTERM ends the process.
  while (true) pause();
}
