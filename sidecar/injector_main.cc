// tether-injector: the mutating admission webhook (sidecar/README.md).
//
//   tether-injector --tls_cert_file=/tls/tls.crt --tls_key_file=/tls/tls.key
//       --agent_image=REGISTRY/tether/agent:TAG
//       --tetherd_address=tetherd.tether-system.svc:7700
//       [--listen=0.0.0.0:8443] [--http_listen=0.0.0.0:8080]
//       [--no_native_sidecars] [--port_file=PATH]
//
// Serves POST /mutate over HTTPS on --listen and /healthz, /readyz and
// /metrics over plain HTTP on --http_listen (sidecar/webhook_server.h);
// follows the certificate files as they are rotated.

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/serving_process.h"
#include "sidecar/webhook_server.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:8443",
          "HTTPS host:port for POST /mutate (IPv4; port 0 picks one).");
ABSL_FLAG(std::string, http_listen, "0.0.0.0:8080",
          "Plain HTTP host:port for /healthz, /readyz and /metrics.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM serving certificate and its chain (reloaded when it changes).");
ABSL_FLAG(std::string, tls_key_file, "",
          "PEM private key of --tls_cert_file (reloaded with it).");
ABSL_FLAG(absl::Duration, tls_poll_interval, absl::Seconds(10),
          "How often the certificate files are checked for a change.");
ABSL_FLAG(std::string, agent_image, "",
          "Image holding the agent bundle, injected into pods.");
ABSL_FLAG(std::string, tetherd_address, "",
          "tetherd's address as agents dial it (host:port).");
ABSL_FLAG(bool, no_native_sidecars, false,
          "The cluster runs Kubernetes older than 1.29: sidecar mode adds a "
          "classic sidecar container.");
ABSL_FLAG(std::string, port_file, "",
          "If set, \"HTTPS_PORT HTTP_PORT\" is written here (atomically) once "
          "both servers serve.");

namespace tether::sidecar {
namespace {

WebhookServer::Options OptionsFromFlags() {
  WebhookServer::Options options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.http_listen_address = absl::GetFlag(FLAGS_http_listen);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls_poll_interval = absl::GetFlag(FLAGS_tls_poll_interval);
  options.injector.agent_image = absl::GetFlag(FLAGS_agent_image);
  options.injector.tetherd_address = absl::GetFlag(FLAGS_tetherd_address);
  options.injector.native_sidecars = !absl::GetFlag(FLAGS_no_native_sidecars);
  return options;
}

int Run() {
  // Handle shutdown signals in this thread: block them before threads exist.
  BlockShutdownSignals();
  absl::StatusOr<std::unique_ptr<WebhookServer>> server =
      WebhookServer::Create(OptionsFromFlags());
  if (!server.ok()) {
    TETHER_LOG(ERROR) << "cannot start tether-injector: " << server.status();
    // 2: fix the flags or the certificate; 1: a port is the problem.
    return absl::IsInvalidArgument(server.status()) ? 2 : 1;
  }
  TETHER_LOG(INFO) << "serving HTTPS on port " << (*server)->port()
                   << " (certificate serial " << (*server)->certificate_serial()
                   << "), HTTP on port " << (*server)->http_port();
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file);
      !port_file.empty()) {
    if (absl::Status written = WriteFileAtomically(
            port_file,
            absl::StrCat((*server)->port(), " ", (*server)->http_port(), "\n"));
        !written.ok()) {
      TETHER_LOG(ERROR) << "cannot write --port_file: " << written;
      return 1;
    }
  }
  const int signal = WaitForShutdownSignal();
  TETHER_LOG(INFO) << "signal " << signal << ": shutting down";
  return 0;
}

}  // namespace
}  // namespace tether::sidecar

int main(int argc, char** argv) {
  tether::ConfigureServingProcess();
  absl::ParseCommandLine(argc, argv);
  return tether::sidecar::Run();
}
