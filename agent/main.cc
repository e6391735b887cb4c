// tether-agent: runs one replica of a service.
//
//   TETHER_SERVICE_TOKEN=... tether-agent --gateway=HOST:PORT --service=NAME
//       --replica=NAME-0 --workdir=DIR [--listen=HOST:PORT]
//       [--health_listen=HOST:PORT]
//       [--tls_cert_file=F --tls_key_file=F] [--tls_ca_file=F]
//
// The team's own program (agent/user_app.h): --app_command runs it beside
// the workers and the agent exits with its status (an injected Job's main
// program). Sidecar mode (ServiceSpec.app) runs no workers:
//
//   tether-agent ... --sidecar [--reload_command='["cmd","arg"]']
//       [--app_command='["server","arg"]'] [--app_port=8000]
//       [--proxy_listen=HOST:PORT]
//
// The token comes from the environment so it does not show in `ps`.

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/agent.h"
#include "agent/otlp_env.h"
#include "common/command_flag.h"
#include "common/log.h"
#include "common/runfiles.h"
#include "common/serving_process.h"
#include "common/status_macros.h"

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
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate (and chain) to serve Agent.Invoke with TLS, also "
          "presented to tetherd; re-read when it changes. Empty: plaintext");
ABSL_FLAG(std::string, tls_key_file, "", "private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA bundle tetherd's certificate must chain to: the gateway "
          "and OTLP reports to it use TLS. Empty: plaintext");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "after a shutdown signal, how long the agent may take to stop "
          "(a worker stuck importing or in C code holds it up) before it "
          "exits at once; its workers die with it");
ABSL_FLAG(bool, sidecar, false,
          "sidecar mode: serve revisions to the team's own server (it reads "
          "them at <workdir>/current) instead of running workers");
ABSL_FLAG(std::string, reload_command, "",
          "sidecar mode: run after each change of code, a JSON list of "
          "strings (exec form); empty: none");
ABSL_FLAG(std::string, app_command, "",
          "the team's program, started once the first revision is synced, a "
          "JSON list of strings; the agent exits with its status. Empty: "
          "none, or in sidecar mode a server that runs elsewhere");
ABSL_FLAG(int, app_port, 0,
          "sidecar mode: the server's port on 127.0.0.1 (its PORT)");
ABSL_FLAG(std::string, proxy_listen, "",
          "sidecar mode: where to proxy the server, counting its "
          "connections as activity, host:port; empty: no proxy");

namespace {

// The team's program and sidecar mode, from their flags.
absl::Status SetAppOptions(tether::agent::Agent::Options& options) {
  tether::agent::UserApp::Options app;
  ASSIGN_OR_RETURN(app.reload_command,
                   tether::DecodeCommand("reload_command",
                                         absl::GetFlag(FLAGS_reload_command)));
  ASSIGN_OR_RETURN(
      app.app_command,
      tether::DecodeCommand("app_command", absl::GetFlag(FLAGS_app_command)));
  app.app_port = absl::GetFlag(FLAGS_app_port);
  options.sidecar = absl::GetFlag(FLAGS_sidecar);
  options.proxy_listen_address = absl::GetFlag(FLAGS_proxy_listen);
  if (!options.proxy_listen_address.empty() &&
      (!options.sidecar || app.app_port == 0)) {
    return absl::InvalidArgumentError(
        "--proxy_listen needs --sidecar and --app_port");
  }
  if (options.sidecar || !app.app_command.empty() ||
      !app.reload_command.empty()) {
    options.app = std::move(app);
  }
  return absl::OkStatus();
}

// The exit status of a process that ended like `exit`, as a shell reports
// it (128 + the signal).
int ExitCodeOf(const tether::ProcessExit& exit) {
  return exit.kind == tether::ProcessExit::Kind::kSignaled ? 128 + exit.code
                                                           : exit.code;
}

}  // namespace

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
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls.ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  if (const char* token = getenv("TETHER_SERVICE_TOKEN")) options.token = token;
  if (absl::Status app = SetAppOptions(options); !app.ok()) {
    TETHER_LOG(ERROR) << "cannot start agent: " << app;
    return 2;
  }
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
  if (!(*agent)->app_address().empty()) {
    TETHER_LOG(INFO) << "proxying the app at " << (*agent)->app_address();
  }
  if ((*agent)->health_port() != 0) {
    TETHER_LOG(INFO) << "health endpoint on port " << (*agent)->health_port();
  }
  std::thread signal_waiter([&agent] {
    tether::WaitForShutdownSignal();
    (*agent)->Shutdown();
    // The agent dies with tetherd (its parent-death signal is SIGTERM)
    // even if its workers do not let it stop: bounded, then at once. The
    // workers' own parent-death signal (SIGKILL) takes them along.
    absl::SleepFor(absl::GetFlag(FLAGS_shutdown_grace));
    TETHER_LOG(WARNING) << "still stopping after "
                        << absl::GetFlag(FLAGS_shutdown_grace)
                        << "; exiting now";
    _exit(1);
  });
  signal_waiter.detach();
  const absl::Status status = (*agent)->Run();
  if (!status.ok()) {
    TETHER_LOG(ERROR) << "agent stops: " << status;
    return 1;
  }
  if (const auto exit = (*agent)->app_exit(); exit.has_value()) {
    TETHER_LOG(INFO) << "the app exited with " << exit->ToString()
                     << "; the agent exits with it";
    return ExitCodeOf(*exit);
  }
  return 0;
}
