#ifndef TETHER_AGENT_AGENT_H_
#define TETHER_AGENT_AGENT_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/log_book.h"
#include "agent/otlp_exporter.h"
#include "agent/user_app.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "tether/v1/agent.grpc.pb.h"

namespace tether {
class GrpcServer;
class HttpServer;
}  // namespace tether

namespace tether::agent {

class ActivityCounters;
class ActivityProxy;
class AgentMetrics;
class InvokeService;
class WorkerPool;

/// One replica's agent: serves `Agent.Invoke`, holds the Attach stream to
/// tetherd (redialing with backoff), and loads the revisions tetherd asks
/// for: pull the code, start workers on it, switch, report.
///
/// Reload semantics: new workers start on the new revision while the old
/// ones serve; calls switch once every new worker has loaded, and the old
/// workers drain. A revision that cannot be fetched or imported is reported
/// FAILED (with the remote traceback) and the old workers keep serving.
/// A frozen service (compute.freeze in the served spec and the new one)
/// refuses other revisions without fetching them, as tetherd does.
///
/// What it serves survives the agent: after a successful load the agent
/// records the LoadRevision in `<workdir>/serving.pb`, and a new agent on
/// the same workdir loads that revision again before it attaches (so a
/// crashed agent comes back serving its last good revision, even if it
/// died half-way through applying a newer one).
///
/// With `app`, the team's own program runs beside the workers (UserApp) and
/// the agent stops when it exits, with its status (`app_exit`). Sidecar mode
/// (`sidecar`, ServiceSpec.app): revisions go to the team's server instead
/// of workers, calls are FAILED_PRECONDITION, and with
/// `proxy_listen_address` the server's connections are counted as activity
/// (ActivityProxy); the proxy's address goes to tetherd in the hello.
///
/// Ready (for traffic, see Ready) once workers serve a revision; with
/// `health_listen_address` set it answers Kubernetes probes and Prometheus
/// scrapes over HTTP (`/healthz`, `/readyz`, `/metrics`: AgentMetrics).
///
/// Thread-safe.
class Agent final {
 public:
  struct Options {
    /// tetherd's AgentGateway, host:port.
    std::string gateway_address;
    std::string service;
    std::string replica;
    /// Holds the code revisions (see sync/revision_builder.h).
    std::string workdir;
    /// Where to serve `Agent.Invoke`; port 0 picks one.
    std::string listen_address = "127.0.0.1:0";
    /// Host tetherd dials for `Agent.Invoke` when it differs from the
    /// listen host: in a pod the agent listens on 0.0.0.0 and is reached at
    /// the pod IP. Empty: the listen host.
    std::string advertise_host;
    /// TLS: `cert_file`/`key_file` serve `Agent.Invoke` (and are presented
    /// to tetherd, which may require a client certificate); `ca_file`
    /// verifies tetherd, for the gateway and for OTLP reports to it. Empty:
    /// plaintext both ways.
    TlsFiles tls;
    /// The service token: tetherd checks it on Attach, the agent on Invoke.
    std::string token;
    int64_t max_payload_bytes = 64 << 20;
    /// Attach redial backoff, started over once attached (must pass
    /// Backoff::Validate).
    Backoff::Options attach_backoff = {/*initial=*/absl::Milliseconds(100),
                                       /*max=*/absl::Seconds(5)};
    /// Time for the redial backoff. Not owned; never null.
    Clock* clock = Clock::Real();
    /// Fork Python workers from a zygote (WorkerPool::Options::zygote).
    bool zygote = true;
    /// Where to serve HTTP `/healthz`, `/readyz` (common/health_routes.h)
    /// and `/metrics` (agent_metrics.h), IPv4 host:port; port 0 picks one.
    /// Empty: none.
    std::string health_listen_address;
    /// Reports this replica's calls as OTLP metrics (otlp_env.h reads the
    /// options from the environment); unset: no reports. The agent sets
    /// `clock` and `counters`, and adds `authorization: Bearer <token>` when
    /// the endpoint is tetherd's (gateway_address): never to another
    /// receiver, which gets its credentials from the headers option.
    std::optional<OtlpExporter::Options> otlp;
    /// Bounds of the replica's recent log lines that `Agent.Logs` serves
    /// (every worker's output, in calls and outside; oldest dropped first).
    LogBook::Options log_book = {/*max_lines=*/10000,
                                 /*max_bytes=*/4 << 20};
    /// Sidecar mode: no workers; revisions go to `app`, which must be set.
    bool sidecar = false;
    /// The team's program and its reload command; the agent sets `workdir`
    /// and `on_app_exit`.
    std::optional<UserApp::Options> app;
    /// Sidecar mode: where the proxy to the server (on 127.0.0.1:
    /// app->app_port) listens, IPv4 host:port, port 0 picks one;
    /// advertised like `listen_address`. Empty: no proxy.
    std::string proxy_listen_address;
  };

  static absl::StatusOr<std::unique_ptr<Agent>> Create(Options options);
  ~Agent();

  /// Holds the Attach stream until Shutdown (OK) or until tetherd rejects
  /// this replica for good (NOT_FOUND: service deleted; UNAUTHENTICATED);
  /// OK too when the team's program exited (see app_exit).
  /// Attaches only once the revision recorded in the workdir (if any) is
  /// serving again, so the hello names it.
  absl::Status Run();
  /// Makes Run return. Safe from any thread, once.
  void Shutdown();

  const std::string& invoke_address() const { return invoke_address_; }
  /// Sidecar mode: the proxy's address; empty without one.
  const std::string& app_address() const { return app_address_; }
  /// How the team's program ended, once it exited by itself.
  std::optional<ProcessExit> app_exit() const;
  /// The HTTP endpoint's port; 0 without one.
  int health_port() const;

  /// OK once workers serve a revision (restored or loaded; a failed load
  /// keeps the old one serving, so readiness never goes back), else
  /// UNAVAILABLE saying why. Never blocks (it answers /readyz).
  absl::Status Ready() const;

 private:
  explicit Agent(Options options);
  void LoaderLoop();
  // Serves the LoadRevision recorded in the workdir again, if any.
  void Restore();
  void Load(const tether::v1::LoadRevision& load);
  // Starts workers on `load` from `dir`, switches to them and records it.
  absl::Status Apply(const tether::v1::LoadRevision& load,
                     const std::string& dir);
  void Report(const tether::v1::LoadRevision& load,
              tether::v1::RevisionState::State state,
              const std::string& error = "");
  void Decorate(grpc::ClientContext& context) const;
  // Makes Run return `why`.
  void Stop(absl::Status why);
  // The app's and sidecar mode's parts of Create.
  absl::Status StartApp();

  const Options options_;
  // Before the services that count calls, so it outlives them; the
  // exporter goes first and reports the final counts.
  std::unique_ptr<ActivityCounters> activity_;
  std::unique_ptr<OtlpExporter> exporter_;
  std::string invoke_address_;
  std::string app_address_;
  std::unique_ptr<tether::v1::AgentGateway::Stub> gateway_;
  std::unique_ptr<AgentMetrics> metrics_;
  // Before the pool, whose reading threads append to it.
  std::unique_ptr<LogBook> log_book_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<InvokeService> invoke_service_;
  // With an app only; the proxy only in sidecar mode with
  // proxy_listen_address.
  std::unique_ptr<UserApp> app_;
  std::unique_ptr<ActivityProxy> proxy_;
  std::unique_ptr<GrpcServer> server_;
  // Null without --health_listen. Its threads read serving_any_ and
  // metrics_.
  std::unique_ptr<HttpServer> http_server_;

  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // What Run returns after a Stop.
  absl::Status stop_reason_ ABSL_GUARDED_BY(mu_);
  std::optional<ProcessExit> app_exit_ ABSL_GUARDED_BY(mu_);
  // The live Attach stream, for reports and for cancelling on shutdown.
  grpc::ClientContext* attach_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  grpc::ClientReaderWriter<tether::v1::AgentMessage, tether::v1::AgentCommand>*
      attach_stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Latest command not yet handled: only the newest revision matters.
  std::optional<tether::v1::LoadRevision> pending_ ABSL_GUARDED_BY(mu_);
  // What the workers serve now.
  std::optional<tether::v1::LoadRevision> serving_ ABSL_GUARDED_BY(mu_);
  // serving_ has a value. Not under mu_: Report holds mu_ across a stream
  // Write that can stall, and a probe waiting on it would fail liveness.
  std::atomic<bool> serving_any_{false};
  // Restore has run (Run attaches only then).
  bool restored_ ABSL_GUARDED_BY(mu_) = false;
  std::thread loader_;
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_AGENT_H_
