#ifndef TETHER_CONTROLPLANE_TETHERD_H_
#define TETHER_CONTROLPLANE_TETHERD_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls.h"

namespace tether {
class GrpcServer;
class HttpServer;
class SerialExecutor;
}  // namespace tether

namespace tether::kube {
class EventRecorder;
class KubeClientHttp;
class PodPolicy;
}  // namespace tether::kube

namespace tether::controlplane {

class ActivityTracker;
class Activator;
class AgentGatewayService;
class ApiAuthorizer;
class ApiTokens;
class Backend;
class CallRouter;
class CodeCollector;
class ControlPlaneMetrics;
class ControlPlaneService;
class FileCodeStore;
class FileServiceStore;
class InjectionReconciler;
class EndpointsPublisher;
class KubernetesBackend;
class LocalBackend;
class MetricsListener;
class OtlpReceiver;
class ServiceManager;
class TtlController;

/// tetherd's composition root: the stores under the state dir, the backend,
/// the router and ServiceManager, the ControlPlane and AgentGateway services
/// on one gRPC server, the code collector, the endpoint and pid files, and
/// optionally an HTTP server for probes and Prometheus (`/healthz`,
/// `/readyz`, `/metrics`: ControlPlaneMetrics).
/// `controlplane/main.cc` only turns flags into Options; tests build the
/// whole process in-process with it.
///
/// Thread-compatible: address() is immutable once created; Shutdown (a
/// second call does nothing) and destruction happen on the owner's thread.
class Tetherd final {
 public:
  /// Mirrors tetherd's flags; errors name the flag.
  struct Options {
    /// host:port to serve on; port 0 picks a free port.
    std::string listen_address = "127.0.0.1:7700";
    /// IPv4 host:port for HTTP `/metrics`, `/healthz` and `/readyz`; port 0
    /// picks a free port. Empty: no HTTP server.
    std::string http_listen_address;
    /// host:port of a gRPC port serving only the OTLP metrics receiver
    /// (it is on `listen_address` too); port 0 picks one. Empty: none.
    std::string otlp_listen_address;
    /// Service records, code, replica work dirs, tetherd.endpoint and
    /// tetherd.pid live here; created if missing. Required.
    std::string state_dir;
    /// Where replicas run: "local" (processes on this machine) or
    /// "kubernetes" (pods, with kube::DefaultKubeConfig).
    std::string backend = "local";
    /// local: the tether-agent executable. Empty: the one shipped beside
    /// tetherd (FindDataFile("agent/tether-agent")).
    std::string agent_binary;
    /// local: passed to every agent as --health_listen (LocalBackend's
    /// agent_health_listen_address); "127.0.0.1:0" gives each agent its own
    /// HTTP port for probes and /metrics. Empty: none.
    std::string agent_health_listen_address;
    /// kubernetes: namespace services run in. Empty: the kubeconfig's.
    std::string kube_namespace;
    /// kubernetes: image holding the agent bundle under /opt/tether.
    std::string agent_image;
    /// kubernetes: host:port pods' agents dial tetherd at.
    std::string advertise_address;
    /// kubernetes: PodTemplate every service builds on.
    std::string default_pod_template = "tether-default";
    /// kubernetes: how long an unschedulable pod waits for an autoscaler.
    absl::Duration unschedulable_grace = absl::Seconds(60);
    /// kubernetes: node label whose value compute.gpu_type must match.
    std::string gpu_node_label = "accelerator";
    /// kubernetes: YAML pod policy (kube/pod_policy.h). Empty: privileged
    /// containers, host namespaces and hostPath volumes are all refused.
    std::string pod_policy_file;
    /// Largest call payload accepted (RESOURCE_EXHAUSTED beyond).
    int64_t max_payload_bytes = 64 << 20;
    /// Bearer tokens the ControlPlane API requires (ApiTokens). Empty: an
    /// open API.
    std::string api_tokens_file;
    /// TLS on tetherd's gRPC ports (the API, the AgentGateway and OTLP):
    /// `cert_file`/`key_file` are tetherd's; with `ca_file`, every caller,
    /// agents included, must present a certificate that CA signed. Empty:
    /// plaintext. Set together with `agent_tls.ca_file`.
    TlsFiles tls;
    /// The agent hop. `ca_file` signed the agents' certificates and
    /// tetherd's: tetherd verifies agents with it, and they verify tetherd.
    /// `cert_file`/`key_file`, local backend: the agents' certificate.
    /// Empty `ca_file`: plaintext.
    TlsFiles agent_tls;
    /// kubernetes: Secret holding the agents' tls.crt, tls.key and ca.crt,
    /// mounted in every pod. Required with `agent_tls.ca_file`.
    std::string agent_tls_secret;
    /// The DNS name agents' certificates carry, which tetherd and direct
    /// callers check instead of the address they dial.
    std::string agent_tls_server_name = "tether-agent";
    /// How often unused code is removed; zero: never.
    absl::Duration code_gc_interval = absl::Minutes(10);
    /// Code stored more recently than this is never removed.
    absl::Duration code_gc_grace = absl::Hours(1);
  };

  /// Builds everything, serves, restarts the recorded services and writes
  /// <state_dir>/tetherd.endpoint and tetherd.pid. INVALID_ARGUMENT for bad
  /// configuration (naming the flag), UNAVAILABLE "cannot listen on ADDRESS",
  /// other codes when the state dir cannot be used.
  static absl::StatusOr<std::unique_ptr<Tetherd>> Create(Options options);
  /// Shuts down if Shutdown was not called.
  ~Tetherd();

  /// Where tetherd serves: the listen host with the bound port.
  const std::string& address() const { return address_; }
  /// The separate OTLP port; 0 without one.
  int otlp_port() const;
  /// The HTTP server's bound port; 0 without one.
  int http_port() const;

  /// Removes the endpoint file, ends agents' Attach streams, stops the
  /// server (2 s grace for calls in flight; /readyz answers 503 meanwhile)
  /// and the HTTP server, lets applies in flight finish,
  /// stops local agents (records stay, so the next tetherd restarts them;
  /// pods keep running and re-attach) and removes the pid file.
  void Shutdown();

 private:
  explicit Tetherd(Options options);
  // INVALID_ARGUMENT naming the flag when the TLS options do not fit.
  static absl::Status CheckTls(const Options& options);
  absl::Status OpenStores();
  absl::Status CreateBackend();
  absl::Status CreateKubernetesBackend(const kube::PodPolicy& pod_policy);
  // Reports opted-in pods of `ns` admitted without the agent.
  absl::Status CreateInjectionReconciler(const std::string& ns);
  absl::Status CreateLocalBackend();
  absl::Status CreateServices();
  // The activity tracker, activator, TTL controller and OTLP receiver.
  absl::Status CreateActivityRooms();
  // Starts the server and the backend, recovers services, starts the
  // collector.
  absl::Status Serve();
  absl::Status WriteProcessFiles();
  absl::Status ServeHttp();

  const Options options_;
  std::string address_;
  std::unique_ptr<FileCodeStore> code_store_;
  std::unique_ptr<FileServiceStore> service_store_;
  // One of the two backends runs; backend_ points at it.
  std::unique_ptr<kube::KubeClientHttp> kube_client_;
  std::unique_ptr<KubernetesBackend> kube_backend_;
  // Kubernetes only: TetherNotInjected Events and the pods they are about.
  std::unique_ptr<kube::EventRecorder> kube_events_;
  std::unique_ptr<InjectionReconciler> injection_reconciler_;
  std::unique_ptr<LocalBackend> local_backend_;
  Backend* backend_ = nullptr;
  // Where services without ServiceSpec.namespace go: the Kubernetes
  // backend's namespace; the local backend has none of its own.
  std::string default_namespace_ = "default";
  std::unique_ptr<CallRouter> router_;
  // Before everything that reports to it, so it outlives them.
  std::unique_ptr<ControlPlaneMetrics> metrics_;
  std::unique_ptr<MetricsListener> metrics_listener_;
  std::unique_ptr<ServiceManager> manager_;
  std::unique_ptr<ApiTokens> api_tokens_;
  // The API's and the OTLP receiver's judge of API tokens.
  std::unique_ptr<ApiAuthorizer> authorizer_;
  // Activity, the TTL and wake-ups: listeners of manager_, shut down
  // before it stops telling them of changes.
  std::unique_ptr<ActivityTracker> activity_;
  std::unique_ptr<Activator> activator_;
  std::unique_ptr<TtlController> ttl_;
  std::unique_ptr<OtlpReceiver> otlp_receiver_;
  // Pushes endpoints to clients that call agents directly.
  std::unique_ptr<EndpointsPublisher> endpoints_;
  // Runs `tether logs`' reads of replicas' own logs from the backend and
  // starts new replicas' streams: off RPC threads, drained after the
  // server stops and before the backend goes.
  std::unique_ptr<SerialExecutor> logs_executor_;
  std::unique_ptr<ControlPlaneService> control_plane_;
  std::unique_ptr<AgentGatewayService> gateway_;
  std::unique_ptr<GrpcServer> server_;
  // Null without otlp_listen_address.
  std::unique_ptr<GrpcServer> otlp_server_;
  std::unique_ptr<CodeCollector> collector_;
  // Null without http_listen_address. Its threads read metrics_ and
  // stopping_.
  std::unique_ptr<HttpServer> http_server_;
  std::atomic<bool> stopping_{false};
  bool shut_down_ = false;
  // The endpoint and pid files are this tetherd's to remove.
  bool wrote_process_files_ = false;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_TETHERD_H_
