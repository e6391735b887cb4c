// tetherd: the Tether control plane.
//
//   tetherd --listen=127.0.0.1:7700 --state_dir=~/.tether --backend=local
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
#include "controlplane/call_router.h"
#include "controlplane/code/file_code_store.h"
#include "controlplane/control_plane_service.h"
#include "controlplane/file_service_store.h"
#include "controlplane/local_backend.h"
#include "controlplane/service_manager.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7700",
          "host:port to serve on; port 0 picks a free port");
ABSL_FLAG(std::string, state_dir, "",
          "where records, code and replica work dirs live (default "
          "$TETHER_STATE_DIR or ~/.tether)");
ABSL_FLAG(std::string, backend, "local",
          "where replicas run: local (processes on this machine)");
ABSL_FLAG(int64_t, max_payload_bytes, 64 << 20,
          "largest call payload accepted (RESOURCE_EXHAUSTED beyond)");
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
  if (absl::GetFlag(FLAGS_backend) != "local") {
    TETHER_LOG(ERROR) << "--backend=" << absl::GetFlag(FLAGS_backend)
                      << " is not supported; use --backend=local";
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
  std::string agent_binary = absl::GetFlag(FLAGS_agent_binary);
  if (agent_binary.empty()) {
    agent_binary = OrDie(FindDataFile("agent/tether-agent"), "agent binary");
  }
  LocalBackend::Options backend_options;
  backend_options.agent_binary = agent_binary;
  backend_options.state_dir = state_dir;
  backend_options.max_payload_bytes = max_payload;
  auto backend = OrDie(LocalBackend::Create(backend_options), "local backend");
  CallRouter::Options router_options;
  router_options.max_payload_bytes = max_payload;
  CallRouter router(router_options);
  ServiceManager::Options manager_options;
  manager_options.backend = backend.get();
  manager_options.store = service_store.get();
  manager_options.code_store = code_store.get();
  manager_options.router = &router;
  manager_options.new_token = NewToken;
  auto manager = OrDie(ServiceManager::Create(manager_options), "manager");

  ControlPlaneService control_plane(manager.get(), &router, code_store.get());
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

  backend->Start(address, manager.get());
  absl::Status recovered = manager->Recover();
  if (!recovered.ok()) {
    TETHER_LOG(ERROR) << "cannot load service records: " << recovered;
    return 1;
  }
  const std::string endpoint_file = state_dir + "/tetherd.endpoint";
  const std::string pid_file = state_dir + "/tetherd.pid";
  TETHER_CHECK(WriteFileAtomically(pid_file, absl::StrCat(getpid())).ok());
  TETHER_CHECK(WriteFileAtomically(endpoint_file, address).ok());
  TETHER_LOG(INFO) << "tetherd serving at " << address << " (state "
                   << state_dir << ", backend local)";

  int signal = 0;
  sigwait(&signals, &signal);
  TETHER_LOG(INFO) << "signal " << signal << ": shutting down";
  unlink(endpoint_file.c_str());
  gateway.CloseAttachStreams();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  // Stops the agents; records stay, so the next tetherd restarts them.
  backend.reset();
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
