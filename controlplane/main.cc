// tetherd: the Tether control plane.
//
//   tetherd --listen=127.0.0.1:7700 --state_dir=~/.tether --backend=local
//   tetherd --backend=kubernetes --agent_image=REGISTRY/tether/agent:TAG \
//       --advertise_address=tetherd.tether-system.svc:7700
//
// Serves the ControlPlane API for users and the AgentGateway API for agents
// on one port, keeps its state under --state_dir (service records, code
// store, replica work dirs), and writes <state_dir>/tetherd.endpoint once it
// serves, so the CLI finds it even when --listen asked for port 0.

#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/runfiles.h"
#include "common/serving_process.h"
#include "common/sha256.h"
#include "controlplane/agent_gateway_service.h"
#include "controlplane/api_tokens.h"
#include "controlplane/call_router.h"
#include "controlplane/code/code_collector.h"
#include "controlplane/code/file_code_store.h"
#include "controlplane/control_plane_service.h"
#include "controlplane/file_service_store.h"
#include "controlplane/kubernetes_backend.h"
#include "controlplane/local_backend.h"
#include "controlplane/service_manager.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "kube/kube_client_http.h"
#include "kube/kube_config.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7700",
          "host:port to serve on; port 0 picks a free port");
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
ABSL_FLAG(int64_t, max_payload_bytes, 64 << 20,
          "largest call payload accepted (RESOURCE_EXHAUSTED beyond)");
ABSL_FLAG(std::string, api_tokens_file, "",
          "file of bearer tokens (one per line) the ControlPlane API "
          "requires, re-read when it changes; empty: an open API (keep "
          "--listen on loopback then)");
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

std::string NewToken() {
  std::string bytes(32, '\0');
  TETHER_CHECK(getrandom(bytes.data(), bytes.size(), 0) ==
               static_cast<ssize_t>(bytes.size()))
      << "getrandom failed";
  return ToHex(bytes);
}

template <typename T>
T OrDie(absl::StatusOr<T> value, const char* what) {
  TETHER_CHECK(value.ok()) << what << ": " << value.status();
  return std::move(*value);
}

int Run() {
  const std::string state_dir = absl::GetFlag(FLAGS_state_dir).empty()
                                    ? DefaultStateDir()
                                    : absl::GetFlag(FLAGS_state_dir);
  const std::string backend_name = absl::GetFlag(FLAGS_backend);
  if (backend_name != "local" && backend_name != "kubernetes") {
    TETHER_LOG(ERROR) << "--backend=" << backend_name
                      << " is not supported; use local or kubernetes";
    return 2;
  }
  const int64_t max_payload = absl::GetFlag(FLAGS_max_payload_bytes);
  TETHER_CHECK(MakeDirs(state_dir).ok()) << "cannot create " << state_dir;

  // Handle shutdown signals in one thread: block them before threads exist.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  FileCodeStore::Options code_options;
  code_options.dir = state_dir + "/code";
  auto code_store = OrDie(FileCodeStore::Create(code_options), "code store");
  FileServiceStore::Options store_options;
  store_options.dir = state_dir + "/services";
  auto service_store =
      OrDie(FileServiceStore::Create(store_options), "service store");
  // Kubernetes: the client and backend are ready before anything serves, so
  // bad config fails the start, not the first deploy.
  std::unique_ptr<kube::KubeClientHttp> kube_client;
  std::unique_ptr<KubernetesBackend> kube_backend;
  std::unique_ptr<LocalBackend> local_backend;
  Backend* backend = nullptr;
  if (backend_name == "kubernetes") {
    absl::StatusOr<kube::KubeConfig> config = kube::DefaultKubeConfig();
    if (!config.ok()) {
      TETHER_LOG(ERROR) << "--backend=kubernetes: " << config.status();
      return 2;
    }
    kube::KubeClientHttp::Options client_options;
    client_options.config = *config;
    kube_client =
        OrDie(kube::KubeClientHttp::Create(client_options), "kube client");
    KubernetesBackend::Options backend_options;
    backend_options.client = kube_client.get();
    backend_options.render.kube_namespace =
        absl::GetFlag(FLAGS_kube_namespace).empty()
            ? config->default_namespace
            : absl::GetFlag(FLAGS_kube_namespace);
    backend_options.tetherd_namespace = config->default_namespace;
    backend_options.render.agent_image = absl::GetFlag(FLAGS_agent_image);
    backend_options.render.tetherd_address =
        absl::GetFlag(FLAGS_advertise_address);
    backend_options.render.gpu_node_label = absl::GetFlag(FLAGS_gpu_node_label);
    backend_options.default_pod_template =
        absl::GetFlag(FLAGS_default_pod_template);
    backend_options.unschedulable_grace =
        absl::GetFlag(FLAGS_unschedulable_grace);
    absl::StatusOr<std::unique_ptr<KubernetesBackend>> created =
        KubernetesBackend::Create(backend_options);
    if (!created.ok()) {
      TETHER_LOG(ERROR) << "--backend=kubernetes: " << created.status();
      return 2;
    }
    kube_backend = *std::move(created);
    backend = kube_backend.get();
  } else {
    std::string agent_binary = absl::GetFlag(FLAGS_agent_binary);
    if (agent_binary.empty()) {
      agent_binary = OrDie(FindDataFile("agent/tether-agent"), "agent binary");
    }
    LocalBackend::Options backend_options;
    backend_options.agent_binary = agent_binary;
    backend_options.state_dir = state_dir;
    backend_options.max_payload_bytes = max_payload;
    local_backend =
        OrDie(LocalBackend::Create(backend_options), "local backend");
    backend = local_backend.get();
  }
  CallRouter::Options router_options;
  router_options.max_payload_bytes = max_payload;
  CallRouter router(router_options);
  ServiceManager::Options manager_options;
  manager_options.backend = backend;
  manager_options.store = service_store.get();
  manager_options.code_store = code_store.get();
  manager_options.router = &router;
  manager_options.new_token = NewToken;
  auto manager = OrDie(ServiceManager::Create(manager_options), "manager");

  std::unique_ptr<ApiTokens> api_tokens;
  if (!absl::GetFlag(FLAGS_api_tokens_file).empty()) {
    ApiTokens::Options tokens_options;
    tokens_options.file = absl::GetFlag(FLAGS_api_tokens_file);
    absl::StatusOr<std::unique_ptr<ApiTokens>> tokens =
        ApiTokens::Create(tokens_options);
    if (!tokens.ok()) {
      TETHER_LOG(ERROR) << "--api_tokens_file: " << tokens.status();
      return 2;
    }
    api_tokens = *std::move(tokens);
  }
  ControlPlaneService control_plane(manager.get(), &router, code_store.get(),
                                    api_tokens.get());
  AgentGatewayService gateway(manager.get(), code_store.get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  // Without this gRPC sets SO_REUSEPORT, and a second server on a taken
  // port would "succeed" and split the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen),
                           grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<int64_t>(max_payload + (1 << 20), INT32_MAX)));
  builder.SetMaxSendMessageSize(
      static_cast<int>(std::min<int64_t>(max_payload + (1 << 20), INT32_MAX)));
  builder.RegisterService(&control_plane);
  builder.RegisterService(&gateway);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    TETHER_LOG(ERROR) << "cannot listen on " << absl::GetFlag(FLAGS_listen);
    return 1;
  }
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string address =
      absl::StrCat(listen.substr(0, listen.rfind(':')), ":", port);

  if (local_backend != nullptr) local_backend->Start(address, manager.get());
  if (kube_backend != nullptr) kube_backend->Start(manager.get());
  absl::Status recovered = manager->Recover();
  if (!recovered.ok()) {
    TETHER_LOG(ERROR) << "cannot load service records: " << recovered;
    return 1;
  }
  CodeCollector::Options collector_options;
  collector_options.store = code_store.get();
  collector_options.live_revisions = [&manager] {
    return manager->LiveRevisions();
  };
  collector_options.interval = absl::GetFlag(FLAGS_code_gc_interval);
  collector_options.grace = absl::GetFlag(FLAGS_code_gc_grace);
  CodeCollector collector(collector_options);
  const std::string endpoint_file = state_dir + "/tetherd.endpoint";
  const std::string pid_file = state_dir + "/tetherd.pid";
  TETHER_CHECK(WriteFileAtomically(pid_file, absl::StrCat(getpid())).ok());
  TETHER_CHECK(WriteFileAtomically(endpoint_file, address).ok());
  TETHER_LOG(INFO) << "tetherd serving at " << address << " (state "
                   << state_dir << ", backend " << backend_name << ")";

  int signal = 0;
  sigwait(&signals, &signal);
  TETHER_LOG(INFO) << "signal " << signal << ": shutting down";
  unlink(endpoint_file.c_str());
  gateway.CloseAttachStreams();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  // Applies in flight finish while the backend still exists.
  manager->Shutdown();
  // Stops local agents (records stay, so the next tetherd restarts them);
  // pods keep running and re-attach to the next tetherd.
  local_backend.reset();
  kube_backend.reset();
  unlink(pid_file.c_str());
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
