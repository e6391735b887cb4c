// tether-injector: the mutating admission webhook (sidecar/README.md).
//
//   tether-injector --tls_cert_file=/tls/tls.crt --tls_key_file=/tls/tls.key
//       --agent_image=REGISTRY/tether/agent:TAG
//       --tetherd_address=tetherd.tether-system.svc:7700
//       [--listen=0.0.0.0:8443] [--http_listen=0.0.0.0:8080]
//       [--no_native_sidecars] [--port_file=PATH]
//       [--events=false] [--kubeconfig=PATH]
//
// Serves POST /mutate over HTTPS on --listen and /healthz, /readyz and
// /metrics over plain HTTP on --http_listen (sidecar/webhook_server.h);
// follows the certificate files as they are rotated. Records Kubernetes
// Events about opted-in pods through the API server of --kubeconfig, else
// of the pod's service account; outside a cluster without --kubeconfig,
// none.

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/serving_process.h"
#include "kube/kube_client_http.h"
#include "kube/kube_config.h"
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
ABSL_FLAG(std::string, agent_tls_secret, "",
          "Secret with the agents' tls.crt, tls.key and ca.crt, in the pods' "
          "namespace (as tetherd's --agent_tls_secret); empty: plaintext.");
ABSL_FLAG(bool, no_native_sidecars, false,
          "The cluster runs Kubernetes older than 1.29: sidecar mode adds a "
          "classic sidecar container.");
ABSL_FLAG(bool, events, true,
          "Record a Kubernetes Event on each opted-in pod's owner "
          "(TetherInjected, TetherSkipped, TetherInjectionDenied).");
ABSL_FLAG(std::string, kubeconfig, "",
          "kubeconfig for the Events' API server. Empty: the pod's service "
          "account (in a cluster), else no Events.");
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
  options.injector.agent_tls_secret = absl::GetFlag(FLAGS_agent_tls_secret);
  options.injector.native_sidecars = !absl::GetFlag(FLAGS_no_native_sidecars);
  return options;
}

// The API server Events go to: --kubeconfig's, else in-cluster; nullopt
// when Events are off or there is no cluster to talk to.
absl::StatusOr<std::optional<kube::KubeConfig>> EventsConfig() {
  if (!absl::GetFlag(FLAGS_events)) return std::nullopt;
  if (const std::string path = absl::GetFlag(FLAGS_kubeconfig); !path.empty()) {
    return kube::LoadKubeconfig(path);
  }
  absl::StatusOr<kube::KubeConfig> config = kube::InClusterConfig();
  if (absl::IsFailedPrecondition(config.status())) {
    TETHER_LOG(INFO) << "no Kubernetes Events: not in a cluster and no "
                        "--kubeconfig";
    return std::nullopt;
  }
  if (!config.ok()) return config.status();
  return *std::move(config);
}

int Run() {
  // Handle shutdown signals in this thread: block them before threads exist.
  BlockShutdownSignals();
  WebhookServer::Options options = OptionsFromFlags();
  absl::StatusOr<std::optional<kube::KubeConfig>> events_config =
      EventsConfig();
  if (!events_config.ok()) {
    TETHER_LOG(ERROR) << "cannot record Events (--events=false turns them "
                         "off): "
                      << events_config.status();
    return 2;
  }
  // Outlives the server, whose recorder writes through it.
  std::unique_ptr<kube::KubeClientHttp> kube_client;
  if (events_config->has_value()) {
    kube::KubeClientHttp::Options client_options;
    client_options.config = **std::move(events_config);
    absl::StatusOr<std::unique_ptr<kube::KubeClientHttp>> client =
        kube::KubeClientHttp::Create(std::move(client_options));
    if (!client.ok()) {
      TETHER_LOG(ERROR) << "cannot record Events: " << client.status();
      return 2;
    }
    kube_client = *std::move(client);
    options.kube_client = kube_client.get();
    // The downward API's pod name (deploy/injector-deployment.yaml).
    if (const char* pod = std::getenv("POD_NAME"); pod != nullptr) {
      options.instance = pod;
    }
  }
  absl::StatusOr<std::unique_ptr<WebhookServer>> server =
      WebhookServer::Create(std::move(options));
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
