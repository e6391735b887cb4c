// tetherd: the Tether control plane.
//
//   tetherd --listen=127.0.0.1:7700 --state_dir=~/.tether --backend=local
//       [--http_listen=127.0.0.1:9090] [--otlp_listen=0.0.0.0:4317]
//   tetherd --backend=kubernetes --agent_image=REGISTRY/tether/agent:TAG
//       --advertise_address=tetherd.tether-system.svc:7700
//
// Serves the ControlPlane API for users, the AgentGateway API for agents
// and the OTLP metrics receiver on one port, keeps its state under --state_dir
// (service records, code store, replica work dirs), and writes
// <state_dir>/tetherd.endpoint once it serves, so the CLI finds it even when
// --listen asked for port 0.

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/runfiles.h"
#include "common/serving_process.h"
#include "controlplane/tetherd.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7700",
          "host:port to serve on; port 0 picks a free port");
ABSL_FLAG(std::string, http_listen, "",
          "IPv4 host:port for HTTP /metrics (Prometheus), /healthz and "
          "/readyz; empty: off");
ABSL_FLAG(std::string, otlp_listen, "",
          "host:port of a gRPC port for the OTLP metrics receiver alone (it "
          "is on --listen too); empty: off");
ABSL_FLAG(std::string, agent_health_listen, "",
          "local backend: --health_listen of every agent (HTTP /healthz, "
          "/readyz, /metrics), e.g. 127.0.0.1:0 for a port each, which the "
          "agent logs to its agent.log; empty: off");
ABSL_FLAG(std::string, state_dir, "",
          "where records, code and replica work dirs live (default "
          "$TETHER_STATE_DIR or ~/.tether)");
ABSL_FLAG(std::string, backend, "local",
          "where replicas run: local (processes on this machine) or "
          "kubernetes (pods; in-cluster config, else $KUBECONFIG or "
          "~/.kube/config)");
ABSL_FLAG(std::string, kube_namespace, "",
          "kubernetes: namespace services run in (default: the pod's or "
          "the kubeconfig context's)");
ABSL_FLAG(std::string, agent_image, "",
          "kubernetes: image holding the agent bundle under /opt/tether "
          "(deploy/agent.Dockerfile)");
ABSL_FLAG(std::string, advertise_address, "",
          "kubernetes: host:port pods' agents dial tetherd at, e.g. "
          "tetherd.tether-system.svc:7700");
ABSL_FLAG(std::string, default_pod_template, "tether-default",
          "kubernetes: PodTemplate every service builds on, looked up in the "
          "services' namespace, then in tetherd's");
ABSL_FLAG(absl::Duration, unschedulable_grace, absl::Seconds(60),
          "kubernetes: how long a pod no node fits waits for a cluster "
          "autoscaler to answer before the deploy fails");
ABSL_FLAG(std::string, gpu_node_label, "accelerator",
          "kubernetes: node label whose value compute.gpu_type must match");
ABSL_FLAG(std::string, pod_policy_file, "",
          "kubernetes: YAML file of what services' pods may ask of the node "
          "(allow_privileged, allow_host_network, allow_host_pid, "
          "allow_host_ipc, allowed_host_paths; proto/tether/v1/"
          "pod_policy.proto); empty: all refused");
ABSL_FLAG(int64_t, max_payload_bytes, 64 << 20,
          "largest call payload accepted (RESOURCE_EXHAUSTED beyond)");
ABSL_FLAG(std::string, api_tokens_file, "",
          "file of bearer tokens (one per line, optionally scoped: "
          "`TOKEN namespaces=a,b [services=x,y]`) the ControlPlane API "
          "requires, re-read when it changes; empty: an open API (keep "
          "--listen on loopback then)");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate (then its chain) tetherd serves its gRPC ports "
          "with (API, agents, OTLP), re-read when it changes; needs "
          "--tls_ca_file. Empty: plaintext (keep --listen on loopback then)");
ABSL_FLAG(std::string, tls_key_file, "", "private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle: callers (CLI, clients, agents) must present a "
          "certificate it signed. Empty: no client certificates asked for");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA bundle that signed the agents' certificates and "
          "tetherd's: tetherd verifies agents with it and they verify "
          "tetherd. Empty: plaintext to agents");
ABSL_FLAG(std::string, agent_tls_cert_file, "",
          "local: the agents' PEM certificate (deploy/make_certs.sh's "
          "agent.crt)");
ABSL_FLAG(std::string, agent_tls_key_file, "",
          "local: private key of --agent_tls_cert_file");
ABSL_FLAG(std::string, agent_tls_secret, "",
          "kubernetes: Secret with the agents' tls.crt, tls.key and ca.crt, "
          "mounted in every pod (deploy/cert-manager)");
ABSL_FLAG(std::string, agent_tls_server_name, "tether-agent",
          "the DNS name in the agents' certificate, which tetherd and "
          "direct callers check");
ABSL_FLAG(absl::Duration, code_gc_interval, absl::Minutes(10),
          "how often to remove code no service or replica uses; 0: never");
ABSL_FLAG(absl::Duration, code_gc_grace, absl::Hours(1),
          "code stored more recently than this is never removed");
ABSL_FLAG(std::string, agent_binary, "",
          "tether-agent executable (default: the one shipped beside tetherd)");

namespace tether::controlplane {
namespace {

std::string DefaultStateDir() {
  if (const char* dir = getenv("TETHER_STATE_DIR")) return dir;
  const char* home = getenv("HOME");
  return absl::StrCat(home != nullptr ? home : "/tmp", "/.tether");
}

Tetherd::Options OptionsFromFlags() {
  Tetherd::Options options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.http_listen_address = absl::GetFlag(FLAGS_http_listen);
  options.otlp_listen_address = absl::GetFlag(FLAGS_otlp_listen);
  options.agent_health_listen_address =
      absl::GetFlag(FLAGS_agent_health_listen);
  options.state_dir = absl::GetFlag(FLAGS_state_dir).empty()
                          ? DefaultStateDir()
                          : absl::GetFlag(FLAGS_state_dir);
  options.backend = absl::GetFlag(FLAGS_backend);
  options.agent_binary = absl::GetFlag(FLAGS_agent_binary);
  options.kube_namespace = absl::GetFlag(FLAGS_kube_namespace);
  options.agent_image = absl::GetFlag(FLAGS_agent_image);
  options.advertise_address = absl::GetFlag(FLAGS_advertise_address);
  options.default_pod_template = absl::GetFlag(FLAGS_default_pod_template);
  options.unschedulable_grace = absl::GetFlag(FLAGS_unschedulable_grace);
  options.gpu_node_label = absl::GetFlag(FLAGS_gpu_node_label);
  options.pod_policy_file = absl::GetFlag(FLAGS_pod_policy_file);
  options.max_payload_bytes = absl::GetFlag(FLAGS_max_payload_bytes);
  options.api_tokens_file = absl::GetFlag(FLAGS_api_tokens_file);
  options.tls = {absl::GetFlag(FLAGS_tls_cert_file),
                 absl::GetFlag(FLAGS_tls_key_file),
                 absl::GetFlag(FLAGS_tls_client_ca_file)};
  options.agent_tls = {absl::GetFlag(FLAGS_agent_tls_cert_file),
                       absl::GetFlag(FLAGS_agent_tls_key_file),
                       absl::GetFlag(FLAGS_tls_ca_file)};
  options.agent_tls_secret = absl::GetFlag(FLAGS_agent_tls_secret);
  options.agent_tls_server_name = absl::GetFlag(FLAGS_agent_tls_server_name);
  options.code_gc_interval = absl::GetFlag(FLAGS_code_gc_interval);
  options.code_gc_grace = absl::GetFlag(FLAGS_code_gc_grace);
  return options;
}

int Run() {
  // Handle shutdown signals in this thread: block them before threads exist.
  BlockShutdownSignals();
  absl::StatusOr<std::unique_ptr<Tetherd>> tetherd =
      Tetherd::Create(OptionsFromFlags());
  if (!tetherd.ok()) {
    TETHER_LOG(ERROR) << "cannot start tetherd: " << tetherd.status();
    // 2: fix the flags; 1: the port or the state dir is the problem.
    return absl::IsInvalidArgument(tetherd.status()) ? 2 : 1;
  }
  const int signal = WaitForShutdownSignal();
  TETHER_LOG(INFO) << "signal " << signal << ": shutting down";
  (*tetherd)->Shutdown();
  return 0;
}

}  // namespace
}  // namespace tether::controlplane

int main(int argc, char** argv) {
  tether::ExportRunfilesDir();
  tether::ConfigureServingProcess();
  absl::ParseCommandLine(argc, argv);
  return tether::controlplane::Run();
}
