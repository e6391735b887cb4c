#include "controlplane/tetherd.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/grpc_server.h"
#include "common/health_routes.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/metrics_text.h"
#include "common/random_token.h"
#include "common/runfiles.h"
#include "common/serial_executor.h"
#include "common/status_macros.h"
#include "controlplane/activator.h"
#include "controlplane/activity_tracker.h"
#include "controlplane/agent_gateway_service.h"
#include "controlplane/api_authorizer.h"
#include "controlplane/api_tokens.h"
#include "controlplane/call_router.h"
#include "controlplane/code/code_collector.h"
#include "controlplane/code/file_code_store.h"
#include "controlplane/control_plane_metrics.h"
#include "controlplane/control_plane_service.h"
#include "controlplane/endpoints_publisher.h"
#include "controlplane/file_service_store.h"
#include "controlplane/injection_reconciler.h"
#include "controlplane/kubernetes_backend.h"
#include "controlplane/local_backend.h"
#include "controlplane/metrics_listener.h"
#include "controlplane/otlp_receiver.h"
#include "controlplane/service_manager.h"
#include "controlplane/ttl_controller.h"
#include "kube/event_recorder.h"
#include "kube/kube_client_http.h"
#include "kube/kube_config.h"
#include "kube/pod_policy.h"

namespace tether::controlplane {
namespace {

// Configuration errors keep their message but say INVALID_ARGUMENT, which
// main turns into exit code 2.
absl::Status ConfigError(absl::string_view flag, const absl::Status& status) {
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": ", status.ToString()));
}

std::string EndpointFile(const std::string& state_dir) {
  return state_dir + "/tetherd.endpoint";
}

std::string PidFile(const std::string& state_dir) {
  return state_dir + "/tetherd.pid";
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tetherd>> Tetherd::Create(Options options) {
  if (options.backend != "local" && options.backend != "kubernetes") {
    return absl::InvalidArgumentError(
        absl::StrCat("--backend=", options.backend,
                     " is not supported; use local or kubernetes"));
  }
  if (options.state_dir.empty()) {
    return absl::InvalidArgumentError("--state_dir: empty");
  }
  if (absl::Status made = MakeDirs(options.state_dir); !made.ok()) {
    return ConfigError("--state_dir", made);
  }
  RETURN_IF_ERROR(CheckTls(options));
  std::unique_ptr<Tetherd> tetherd(new Tetherd(std::move(options)));
  RETURN_IF_ERROR(tetherd->OpenStores());
  RETURN_IF_ERROR(tetherd->CreateBackend());
  RETURN_IF_ERROR(tetherd->CreateServices());
  RETURN_IF_ERROR(tetherd->Serve());
  RETURN_IF_ERROR(tetherd->ServeHttp());
  RETURN_IF_ERROR(tetherd->WriteProcessFiles());
  TETHER_LOG(INFO) << "tetherd serving at " << tetherd->address_ << " (state "
                   << tetherd->options_.state_dir << ", backend "
                   << tetherd->options_.backend << ")";
  return tetherd;
}

Tetherd::Tetherd(Options options) : options_(std::move(options)) {}

absl::Status Tetherd::CheckTls(const Options& options) {
  const bool serves_tls = !options.tls.cert_file.empty();
  const bool agents_tls = !options.agent_tls.ca_file.empty();
  // Agents dial tetherd as they serve: TLS both ways or neither.
  if (serves_tls != agents_tls) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_ca_file go together: agents verify "
        "tetherd's certificate with the CA, and tetherd verifies theirs");
  }
  if (!agents_tls) return absl::OkStatus();
  if (absl::Status checked =
          CheckTlsFiles({options.tls.cert_file, options.tls.key_file, ""});
      !checked.ok()) {
    return ConfigError("--tls_cert_file/--tls_key_file", checked);
  }
  if (absl::Status checked = CheckTlsFiles({"", "", options.tls.ca_file});
      !checked.ok()) {
    return ConfigError("--tls_client_ca_file", checked);
  }
  if (absl::Status checked = CheckTlsFiles({"", "", options.agent_tls.ca_file});
      !checked.ok()) {
    return ConfigError("--tls_ca_file", checked);
  }
  if (options.backend == "kubernetes") {
    if (options.agent_tls_secret.empty()) {
      return absl::InvalidArgumentError(
          "--agent_tls_secret: empty, but pods' agents need their "
          "certificate for TLS");
    }
    return absl::OkStatus();
  }
  if (options.agent_tls.cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--agent_tls_cert_file: empty, but local agents need a certificate "
        "for TLS");
  }
  if (absl::Status checked = CheckTlsFiles(
          {options.agent_tls.cert_file, options.agent_tls.key_file, ""});
      !checked.ok()) {
    return ConfigError("--agent_tls_cert_file/--agent_tls_key_file", checked);
  }
  return absl::OkStatus();
}

Tetherd::~Tetherd() { Shutdown(); }

absl::Status Tetherd::OpenStores() {
  FileCodeStore::Options code_options;
  code_options.dir = options_.state_dir + "/code";
  ASSIGN_OR_RETURN(code_store_, FileCodeStore::Create(code_options));
  FileServiceStore::Options store_options;
  store_options.dir = options_.state_dir + "/services";
  ASSIGN_OR_RETURN(service_store_, FileServiceStore::Create(store_options));
  return absl::OkStatus();
}

absl::Status Tetherd::CreateBackend() {
  if (options_.backend == "local") {
    // Local replicas are host processes: no pod for the policy to govern.
    if (!options_.pod_policy_file.empty()) {
      return absl::InvalidArgumentError(
          "--pod_policy_file: only for --backend=kubernetes");
    }
    return CreateLocalBackend();
  }
  kube::PodPolicy pod_policy;
  if (!options_.pod_policy_file.empty()) {
    absl::StatusOr<kube::PodPolicy> read =
        kube::PodPolicy::FromFile(options_.pod_policy_file);
    if (!read.ok()) return ConfigError("--pod_policy_file", read.status());
    pod_policy = *std::move(read);
  }
  // The client and backend are ready before anything serves, so bad config
  // fails the start, not the first deploy.
  if (absl::Status created = CreateKubernetesBackend(pod_policy);
      !created.ok()) {
    return ConfigError("--backend=kubernetes", created);
  }
  return absl::OkStatus();
}

absl::Status Tetherd::CreateKubernetesBackend(
    const kube::PodPolicy& pod_policy) {
  ASSIGN_OR_RETURN(const kube::KubeConfig config, kube::DefaultKubeConfig());
  kube::KubeClientHttp::Options client_options;
  client_options.config = config;
  ASSIGN_OR_RETURN(kube_client_, kube::KubeClientHttp::Create(client_options));
  KubernetesBackend::Options backend_options;
  backend_options.client = kube_client_.get();
  backend_options.render.kube_namespace = options_.kube_namespace.empty()
                                              ? config.default_namespace
                                              : options_.kube_namespace;
  backend_options.tetherd_namespace = config.default_namespace;
  backend_options.render.agent_image = options_.agent_image;
  backend_options.render.tetherd_address = options_.advertise_address;
  backend_options.render.gpu_node_label = options_.gpu_node_label;
  backend_options.render.agent_tls_secret = options_.agent_tls_secret;
  backend_options.default_pod_template = options_.default_pod_template;
  backend_options.unschedulable_grace = options_.unschedulable_grace;
  backend_options.pod_policy = pod_policy;
  ASSIGN_OR_RETURN(kube_backend_, KubernetesBackend::Create(backend_options));
  backend_ = kube_backend_.get();
  default_namespace_ = backend_options.render.kube_namespace;
  return CreateInjectionReconciler(backend_options.render.kube_namespace);
}

absl::Status Tetherd::CreateInjectionReconciler(const std::string& ns) {
  kube::EventRecorder::Options events_options;
  events_options.client = kube_client_.get();
  events_options.component = "tetherd";
  // In a pod, the hostname is the pod's name.
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) events_options.instance = host;
  ASSIGN_OR_RETURN(kube_events_,
                   kube::EventRecorder::Create(std::move(events_options)));
  InjectionReconciler::Options reconciler_options;
  reconciler_options.client = kube_client_.get();
  reconciler_options.events = kube_events_.get();
  reconciler_options.ns = ns;
  ASSIGN_OR_RETURN(injection_reconciler_,
                   InjectionReconciler::Create(std::move(reconciler_options)));
  return absl::OkStatus();
}

absl::Status Tetherd::CreateLocalBackend() {
  LocalBackend::Options backend_options;
  backend_options.agent_binary = options_.agent_binary;
  if (backend_options.agent_binary.empty()) {
    ASSIGN_OR_RETURN(backend_options.agent_binary,
                     FindDataFile("agent/tether-agent"));
  }
  backend_options.state_dir = options_.state_dir;
  backend_options.max_payload_bytes = options_.max_payload_bytes;
  backend_options.agent_health_listen_address =
      options_.agent_health_listen_address;
  backend_options.agent_tls = options_.agent_tls;
  ASSIGN_OR_RETURN(local_backend_, LocalBackend::Create(backend_options));
  backend_ = local_backend_.get();
  return absl::OkStatus();
}

absl::Status Tetherd::CreateServices() {
  CallRouter::Options router_options;
  router_options.max_payload_bytes = options_.max_payload_bytes;
  if (!options_.agent_tls.ca_file.empty()) {
    ASSIGN_OR_RETURN(router_options.agent_credentials,
                     GrpcChannelCredentials({"", "", options_.agent_tls.ca_file,
                                             options_.agent_tls.refresh}));
    router_options.agent_tls_server_name = options_.agent_tls_server_name;
  }
  router_ = std::make_unique<CallRouter>(router_options);
  ServiceManager::Options manager_options;
  manager_options.backend = backend_;
  manager_options.store = service_store_.get();
  manager_options.code_store = code_store_.get();
  manager_options.router = router_.get();
  manager_options.new_token = NewRandomToken;
  manager_options.default_namespace = default_namespace_;
  ASSIGN_OR_RETURN(manager_, ServiceManager::Create(manager_options));
  metrics_ = std::make_unique<ControlPlaneMetrics>();
  metrics_listener_ = std::make_unique<MetricsListener>(metrics_.get());
  manager_->AddListener(metrics_listener_.get());
  if (!options_.api_tokens_file.empty()) {
    ApiTokens::Options tokens_options;
    tokens_options.file = options_.api_tokens_file;
    absl::StatusOr<std::unique_ptr<ApiTokens>> tokens =
        ApiTokens::Create(tokens_options);
    if (!tokens.ok()) return ConfigError("--api_tokens_file", tokens.status());
    api_tokens_ = *std::move(tokens);
  }
  authorizer_ = std::make_unique<ApiAuthorizer>(
      api_tokens_.get(), [manager = manager_.get()](const std::string& name) {
        return manager->NamespaceOf(name);
      });
  RETURN_IF_ERROR(CreateActivityRooms());
  endpoints_ = std::make_unique<EndpointsPublisher>(
      options_.agent_tls.ca_file.empty() ? "" : options_.agent_tls_server_name);
  manager_->AddListener(endpoints_.get());
  logs_executor_ = std::make_unique<SerialExecutor>();
  ControlPlaneService::Options api_options;
  api_options.manager = manager_.get();
  api_options.activator = activator_.get();
  api_options.router = router_.get();
  api_options.backend = backend_;
  api_options.run_logs_task =
      [executor = logs_executor_.get()](std::function<void()> task) {
        executor->Run(std::move(task));
      };
  api_options.ttl = ttl_.get();
  api_options.endpoints = endpoints_.get();
  api_options.code_store = code_store_.get();
  api_options.metrics = metrics_.get();
  api_options.authorizer = authorizer_.get();
  api_options.uninjected = injection_reconciler_.get();
  control_plane_ = std::make_unique<ControlPlaneService>(api_options);
  gateway_ = std::make_unique<AgentGatewayService>(
      manager_.get(), code_store_.get(), metrics_.get());
  return absl::OkStatus();
}

absl::Status Tetherd::CreateActivityRooms() {
  ServiceManager* manager = manager_.get();
  ControlPlaneMetrics* metrics = metrics_.get();
  activity_ = std::make_unique<ActivityTracker>(ActivityTracker::Options());

  Activator::Options activator_options;
  activator_options.router = router_.get();
  activator_options.activity = activity_.get();
  activator_options.wake = [manager](const std::string& service) {
    return manager->Scale(service, std::nullopt, "woken by a call").status();
  };
  activator_options.on_wake_ended = [metrics](bool ok, absl::Duration took) {
    metrics->WakeEnded(ok, took);
  };
  activator_ = std::make_unique<Activator>(activator_options);
  manager_->AddListener(activator_.get());

  TtlController::Options ttl_options;
  ttl_options.activity = activity_.get();
  ttl_options.activator = activator_.get();
  ttl_options.store = service_store_.get();
  ttl_options.scale_to_zero = [manager](const std::string& service,
                                        const std::string& why) {
    return manager->Scale(service, 0, why).status();
  };
  ttl_options.remove = [manager](const std::string& service) {
    manager->DeleteService(service, [service](const absl::Status& deleted) {
      if (!deleted.ok()) {
        TETHER_LOG(ERROR) << "deleting idle service " << service << ": "
                          << deleted;
      }
    });
    return absl::OkStatus();
  };
  ttl_options.on_action = [metrics](const std::string& action) {
    metrics->TtlAction(action);
  };
  ASSIGN_OR_RETURN(ttl_, TtlController::Create(ttl_options));
  manager_->AddListener(ttl_.get());

  OtlpReceiver::Options otlp_options;
  otlp_options.activity = activity_.get();
  otlp_options.service_for_token = [manager](const std::string& token) {
    return manager->ServiceForAgentToken(token);
  };
  otlp_options.authorizer = authorizer_.get();
  otlp_options.metrics = metrics;
  otlp_receiver_ = std::make_unique<OtlpReceiver>(otlp_options);
  return absl::OkStatus();
}

absl::Status Tetherd::Serve() {
  GrpcServer::Options server_options;
  server_options.listen_address = options_.listen_address;
  server_options.max_payload_bytes = options_.max_payload_bytes;
  server_options.tls = options_.tls;
  server_options.services = {control_plane_.get(), gateway_.get(),
                             otlp_receiver_.get()};
  ASSIGN_OR_RETURN(server_, GrpcServer::Create(server_options));
  address_ = server_->address();
  if (!options_.otlp_listen_address.empty()) {
    GrpcServer::Options otlp_options;
    otlp_options.listen_address = options_.otlp_listen_address;
    otlp_options.max_payload_bytes = options_.max_payload_bytes;
    otlp_options.tls = options_.tls;
    otlp_options.services = {otlp_receiver_.get()};
    absl::StatusOr<std::unique_ptr<GrpcServer>> otlp =
        GrpcServer::Create(otlp_options);
    if (!otlp.ok()) return ConfigError("--otlp_listen", otlp.status());
    otlp_server_ = *std::move(otlp);
  }
  // Backends report replica events from here on; agents dial address_.
  if (local_backend_ != nullptr)
    local_backend_->Start(address_, manager_.get());
  if (kube_backend_ != nullptr) kube_backend_->Start(manager_.get());
  if (absl::Status recovered = manager_->Recover(); !recovered.ok()) {
    // Not INVALID_ARGUMENT whatever the record says: the flags are fine.
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load service records: ", recovered.ToString()));
  }
  CodeCollector::Options collector_options;
  collector_options.store = code_store_.get();
  collector_options.live_revisions = [manager = manager_.get()] {
    return manager->LiveRevisions();
  };
  collector_options.interval = options_.code_gc_interval;
  collector_options.grace = options_.code_gc_grace;
  collector_ = std::make_unique<CodeCollector>(collector_options);
  return absl::OkStatus();
}

absl::Status Tetherd::WriteProcessFiles() {
  // From here on the files are this tetherd's, even if writing one fails.
  wrote_process_files_ = true;
  RETURN_IF_ERROR(
      WriteFileAtomically(PidFile(options_.state_dir), absl::StrCat(getpid())));
  RETURN_IF_ERROR(
      WriteFileAtomically(EndpointFile(options_.state_dir), address_));
  return absl::OkStatus();
}

absl::Status Tetherd::ServeHttp() {
  if (options_.http_listen_address.empty()) return absl::OkStatus();
  HttpServer::Options http_options;
  http_options.listen_address = options_.http_listen_address;
  // Up once Create gets here (serving, services recovered) until Shutdown.
  http_options.routes = HealthRoutes([this] {
    return stopping_.load() ? absl::UnavailableError("tetherd is shutting down")
                            : absl::OkStatus();
  });
  http_options.routes.push_back(MetricsRoute(&metrics_->registry()));
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Create(std::move(http_options));
  if (!server.ok()) {
    return absl::Status(
        server.status().code(),
        absl::StrCat("--http_listen: ", server.status().message()));
  }
  http_server_ = *std::move(server);
  TETHER_LOG(INFO) << "tetherd HTTP (/metrics, /healthz, /readyz) on port "
                   << http_server_->port();
  return absl::OkStatus();
}

int Tetherd::otlp_port() const {
  return otlp_server_ == nullptr ? 0 : otlp_server_->port();
}

int Tetherd::http_port() const {
  return http_server_ == nullptr ? 0 : http_server_->port();
}

void Tetherd::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  stopping_.store(true);
  // Only files this tetherd wrote: a failed start must not hide the one
  // already serving on the state dir.
  if (wrote_process_files_) unlink(EndpointFile(options_.state_dir).c_str());
  collector_.reset();
  // No service is parked or woken while tetherd goes; waiting calls fail.
  if (ttl_ != nullptr) ttl_->Shutdown();
  if (activator_ != nullptr) activator_->Shutdown();
  if (gateway_ != nullptr) gateway_->CloseAttachStreams();
  if (otlp_server_ != nullptr) otlp_server_->Shutdown(absl::Seconds(1));
  if (server_ != nullptr) server_->Shutdown(absl::Seconds(2));
  http_server_.reset();
  // Log reads still queued run (for streams already gone, they stop
  // early) while the backend exists.
  if (logs_executor_ != nullptr) logs_executor_->Shutdown();
  // Applies in flight finish while the backend still exists.
  if (manager_ != nullptr) manager_->Shutdown();
  // Stops local agents (records stay, so the next tetherd restarts them);
  // pods keep running and re-attach to the next tetherd.
  local_backend_.reset();
  injection_reconciler_.reset();
  kube_events_.reset();
  kube_backend_.reset();
  if (wrote_process_files_) unlink(PidFile(options_.state_dir).c_str());
}

}  // namespace tether::controlplane
