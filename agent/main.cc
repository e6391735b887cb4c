// tether-agent: runs one replica of a service.
//
//   TETHER_SERVICE_TOKEN=... tether-agent --gateway=HOST:PORT --service=NAME \
//       --replica=NAME-0 --workdir=DIR [--listen=HOST:PORT] \
//       [--health_listen=HOST:PORT]
//
// The token comes from the environment so it does not show in `ps`.

#include <cstdlib>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "agent/agent.h"
#include "agent/otlp_env.h"
#include "common/log.h"
#include "common/runfiles.h"
#include "common/serving_process.h"

ABSL_FLAG(std::string, gateway, "", "tetherd's address, host:port");
ABSL_FLAG(std::string, service, "", "the service this replica belongs to");
ABSL_FLAG(std::string, replica, "", "this replica's name, <service>-<index>");
ABSL_FLAG(std::string, workdir, "", "directory for code revisions");
ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "where to serve Agent.Invoke; port 0 picks one");
ABSL_FLAG(std::string, advertise_host, "",
          "host tetherd reaches Agent.Invoke at, when --listen binds a "
          "wildcard address (in a pod: the pod IP); empty: the listen host");
ABSL_FLAG(std::string, health_listen, "",
          "where to serve HTTP /healthz and /readyz for Kubernetes probes, "
          "host:port; empty: off");
ABSL_FLAG(int64_t, max_payload_bytes, 64 << 20, "largest call payload");

int main(int argc, char** argv) {
  tether::ExportRunfilesDir();
  tether::ConfigureServingProcess();
  absl::ParseCommandLine(argc, argv);
  // Handle shutdown signals in one thread: block them before threads exist.
  tether::BlockShutdownSignals();

  tether::agent::Agent::Options options;
  options.gateway_address = absl::GetFlag(FLAGS_gateway);
  options.service = absl::GetFlag(FLAGS_service);
  options.replica = absl::GetFlag(FLAGS_replica);
  options.workdir = absl::GetFlag(FLAGS_workdir);
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.advertise_host = absl::GetFlag(FLAGS_advertise_host);
  options.health_listen_address = absl::GetFlag(FLAGS_health_listen);
  options.max_payload_bytes = absl::GetFlag(FLAGS_max_payload_bytes);
  if (const char* token = getenv("TETHER_SERVICE_TOKEN")) options.token = token;
  // Activity reports: to tetherd unless the OTEL_* variables say otherwise.
  tether::agent::OtlpEnvDefaults otlp_defaults;
  otlp_defaults.endpoint = options.gateway_address;
  otlp_defaults.service = options.service;
  otlp_defaults.replica = options.replica;
  auto otlp = tether::agent::OtlpExporterOptionsFromEnv(
      [](const char* name) -> const char* { return getenv(name); },
      otlp_defaults);
  if (!otlp.ok()) {
    TETHER_LOG(ERROR) << "cannot start agent: " << otlp.status();
    return 2;
  }
  options.otlp = *std::move(otlp);
  auto agent = tether::agent::Agent::Create(options);
  if (!agent.ok()) {
    TETHER_LOG(ERROR) << "cannot start agent: " << agent.status();
    return 2;
  }
  TETHER_LOG(INFO) << options.replica << " serving Invoke at "
                   << (*agent)->invoke_address() << ", attaching to "
                   << options.gateway_address;
  if ((*agent)->health_port() != 0) {
    TETHER_LOG(INFO) << "health endpoint on port " << (*agent)->health_port();
  }
  std::thread signal_waiter([&agent] {
    tether::WaitForShutdownSignal();
    (*agent)->Shutdown();
  });
  signal_waiter.detach();
  const absl::Status status = (*agent)->Run();
  if (!status.ok()) {
    TETHER_LOG(ERROR) << "agent stops: " << status;
    return 1;
  }
  return 0;
}
