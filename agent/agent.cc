#include "agent/agent.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "agent/activity.h"
#include "agent/activity_proxy.h"
#include "agent/agent_metrics.h"
#include "agent/invoke_service.h"
#include "agent/worker/worker_pool.h"
#include "common/fault_point.h"
#include "common/files.h"
#include "common/grpc_server.h"
#include "common/grpc_status.h"
#include "common/health_routes.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/message_limits.h"
#include "common/metrics_text.h"
#include "common/proto_time.h"
#include "common/revision_id.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "sync/code_puller.h"
#include "sync/revision_builder.h"

namespace tether::agent {
namespace {

using tether::v1::AgentCommand;
using tether::v1::AgentMessage;
using tether::v1::LoadRevision;
using tether::v1::RevisionState;

// {"args": [...], "kwargs": {...}} for the class constructor.
std::string InitJson(const tether::v1::Callable& callable) {
  // MessageToJsonString appends, so each part starts empty.
  std::string args;
  std::string kwargs;
  if (!callable.has_init_args() ||
      !google::protobuf::util::MessageToJsonString(callable.init_args(), &args)
           .ok()) {
    args = "[]";
  }
  if (!callable.has_init_kwargs() ||
      !google::protobuf::util::MessageToJsonString(callable.init_kwargs(),
                                                   &kwargs)
           .ok()) {
    kwargs = "{}";
  }
  return absl::StrCat("{\"args\":", args, ",\"kwargs\":", kwargs, "}");
}

bool SameLoad(const LoadRevision& a, const LoadRevision& b) {
  return a.revision() == b.revision() &&
         google::protobuf::util::MessageDifferencer::Equals(a.spec(), b.spec());
}

// The same rule as tetherd's: a frozen service keeps its code until a
// deploy lifts the freeze (or it is deleted and deployed again).
bool RefusedByFreeze(const LoadRevision& serving, const LoadRevision& load) {
  return serving.spec().compute().freeze() && load.spec().compute().freeze() &&
         serving.revision() != load.revision();
}

// The last LoadRevision that went live, in the workdir.
std::string ServingFile(const std::string& workdir) {
  return absl::StrCat(workdir, "/serving.pb");
}

WorkerConfig ConfigFor(const tether::v1::ServiceSpec& spec,
                       const std::string& dir) {
  WorkerConfig config;
  config.runtime = spec.callable().runtime();
  config.revision_dir = dir;
  config.load.set_root(dir);
  config.load.set_module(spec.callable().module());
  config.load.set_name(spec.callable().name());
  config.load.set_init_json(InitJson(spec.callable()));
  for (const std::string& module : spec.compute().preload()) {
    config.load.add_preload(module);
  }
  config.workers = std::max(1, spec.compute().workers());
  return config;
}

// The exporter reports as this replica: its clock, counters and token.
OtlpExporter::Options ExporterOptions(const Agent::Options& options,
                                      ActivityCounters* activity) {
  OtlpExporter::Options exporter = *options.otlp;
  exporter.clock = options.clock;
  exporter.counters = activity;
  const bool has_authorization = std::any_of(
      exporter.headers.begin(), exporter.headers.end(),
      [](const auto& header) { return header.first == "authorization"; });
  // The service token is tetherd's to see, not a third-party Collector's.
  if (!has_authorization && exporter.endpoint == options.gateway_address) {
    exporter.headers.emplace_back("authorization",
                                  absl::StrCat("Bearer ", options.token));
    // Reports to tetherd go over the gateway's TLS.
    if (!options.tls.ca_file.empty()) {
      exporter.endpoint = absl::StrCat("https://", options.gateway_address);
      exporter.tls = options.tls;
    }
  }
  return exporter;
}

}  // namespace

Agent::Agent(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(Options options) {
  if (options.gateway_address.empty() || options.service.empty() ||
      options.replica.empty() || options.workdir.empty()) {
    return absl::InvalidArgumentError(
        "agent needs --gateway, --service, --replica and --workdir");
  }
  std::unique_ptr<Agent> agent(new Agent(std::move(options)));
  const Options& opts = agent->options_;

  agent->metrics_ = std::make_unique<AgentMetrics>(opts.clock);
  WorkerPool::Options pool_options;
  pool_options.zygote = opts.zygote;
  agent->log_book_ = std::make_unique<LogBook>(opts.log_book);
  pool_options.on_log = [book = agent->log_book_.get(), replica = opts.replica,
                         clock = opts.clock](const tether::v1::LogLine& in) {
    tether::v1::LogLine line = in;
    line.set_replica(replica);
    // The Python runner stamps lines when printed; a native worker's come
    // unstamped and count from when they reached the agent (`since` needs
    // a time).
    if (!line.has_time()) *line.mutable_time() = ToProtoTimestamp(clock->Now());
    book->Append(std::move(line));
  };
  ASSIGN_OR_RETURN(agent->pool_, WorkerPool::Create(std::move(pool_options)));
  // A call counts as after idle once no call started for an export
  // interval: it is then reported at once.
  agent->activity_ = std::make_unique<ActivityCounters>(
      opts.clock,
      opts.otlp.has_value() ? opts.otlp->interval : absl::Seconds(5));
  agent->invoke_service_ = std::make_unique<InvokeService>(
      agent->pool_.get(), agent->metrics_.get(), agent->activity_.get(),
      opts.token, opts.max_payload_bytes, opts.replica, agent->log_book_.get());

  GrpcServer::Options server_options;
  server_options.listen_address = opts.listen_address;
  server_options.max_payload_bytes = opts.max_payload_bytes;
  server_options.tls = {opts.tls.cert_file, opts.tls.key_file, "",
                        opts.tls.refresh};
  server_options.services = {agent->invoke_service_.get()};
  ASSIGN_OR_RETURN(agent->server_, GrpcServer::Create(server_options));
  if (agent->server_->port() == 0 || opts.advertise_host.empty()) {
    agent->invoke_address_ = agent->server_->address();
  } else {
    agent->invoke_address_ =
        absl::StrCat(opts.advertise_host, ":", agent->server_->port());
  }
  if (opts.app.has_value()) {
    RETURN_IF_ERROR(agent->StartApp());
  } else if (opts.sidecar) {
    return absl::InvalidArgumentError("sidecar mode needs the app's options");
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(MaxMessageBytes(opts.max_payload_bytes));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                   GrpcChannelCredentials(opts.tls));
  agent->gateway_ = tether::v1::AgentGateway::NewStub(
      grpc::CreateCustomChannel(opts.gateway_address, credentials, args));
  if (!opts.health_listen_address.empty()) {
    HttpServer::Options http_options;
    http_options.listen_address = opts.health_listen_address;
    http_options.routes =
        HealthRoutes([a = agent.get()] { return a->Ready(); });
    http_options.routes.push_back(MetricsRoute(&agent->metrics_->registry()));
    ASSIGN_OR_RETURN(agent->http_server_,
                     HttpServer::Create(std::move(http_options)));
  }
  // Last: an agent that fails to start reports nothing.
  if (opts.otlp.has_value()) {
    ASSIGN_OR_RETURN(agent->exporter_, OtlpExporter::Create(ExporterOptions(
                                           opts, agent->activity_.get())));
  }
  agent->loader_ = std::thread([a = agent.get()] { a->LoaderLoop(); });
  return agent;
}

Agent::~Agent() {
  // First: its threads call Ready() and read metrics_.
  http_server_.reset();
  // While the loader thread lives: the app's parent-death signal would
  // otherwise stop it before UserApp knows it is stopping.
  proxy_.reset();
  app_.reset();
  Shutdown();
  if (loader_.joinable()) loader_.join();
  // Null when Create failed before the server started.
  if (server_ != nullptr) {
    server_->Shutdown(absl::Milliseconds(500));
  }
}

absl::Status Agent::StartApp() {
  UserApp::Options app = *options_.app;
  app.workdir = options_.workdir;
  app.on_app_exit = [this](const ProcessExit& exit) {
    {
      absl::MutexLock lock(&mu_);
      app_exit_ = exit;
    }
    Stop(absl::OkStatus());
  };
  ASSIGN_OR_RETURN(app_, UserApp::Create(std::move(app)));
  if (!options_.sidecar) return absl::OkStatus();
  invoke_service_->RefuseCalls(absl::StrCat(
      "service ", options_.service,
      " runs its own server (sidecar mode): call the server at its app "
      "address (tether status ",
      options_.service, ")"));
  if (options_.proxy_listen_address.empty()) return absl::OkStatus();
  ActivityProxy::Options proxy;
  proxy.listen_address = options_.proxy_listen_address;
  proxy.upstream_port = options_.app->app_port;
  proxy.activity = activity_.get();
  ASSIGN_OR_RETURN(proxy_, ActivityProxy::Create(std::move(proxy)));
  const std::string& listen = options_.proxy_listen_address;
  app_address_ = absl::StrCat(options_.advertise_host.empty()
                                  ? listen.substr(0, listen.rfind(':'))
                                  : options_.advertise_host,
                              ":", proxy_->port());
  return absl::OkStatus();
}

std::optional<ProcessExit> Agent::app_exit() const {
  absl::MutexLock lock(&mu_);
  return app_exit_;
}

int Agent::health_port() const {
  return http_server_ == nullptr ? 0 : http_server_->port();
}

absl::Status Agent::Ready() const {
  if (serving_any_.load(std::memory_order_acquire)) return absl::OkStatus();
  return absl::UnavailableError("no revision loaded yet");
}

void Agent::Decorate(grpc::ClientContext& context) const {
  context.AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
}

void Agent::Shutdown() { Stop(absl::OkStatus()); }

void Agent::Stop(absl::Status why) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return;
  shutdown_ = true;
  stop_reason_ = std::move(why);
  if (attach_context_ != nullptr) attach_context_->TryCancel();
}

absl::Status Agent::Run() {
  {
    absl::MutexLock lock(&mu_);
    auto restored = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return restored_ || shutdown_;
    };
    mu_.Await(absl::Condition(&restored));
  }
  Backoff backoff(options_.attach_backoff);
  while (true) {
    grpc::ClientContext context;
    Decorate(context);
    auto stream = gateway_->Attach(&context);
    AgentMessage hello;
    hello.mutable_hello()->set_service(options_.service);
    hello.mutable_hello()->set_replica(options_.replica);
    hello.mutable_hello()->set_invoke_address(invoke_address_);
    hello.mutable_hello()->set_app_address(app_address_);
    {
      absl::MutexLock lock(&mu_);
      if (shutdown_) return stop_reason_;
      if (serving_.has_value()) {
        hello.mutable_hello()->set_serving_revision(serving_->revision());
      }
      attach_context_ = &context;
      attach_stream_ = stream.get();
    }
    bool attached = false;
    if (stream->Write(hello)) {
      AgentCommand command;
      while (stream->Read(&command)) {
        attached = true;
        backoff.Reset();
        if (!command.has_load()) continue;
        absl::MutexLock lock(&mu_);
        pending_ = command.load();
      }
    }
    {
      absl::MutexLock lock(&mu_);
      attach_context_ = nullptr;
      attach_stream_ = nullptr;
    }
    const grpc::Status status = stream->Finish();
    {
      absl::MutexLock lock(&mu_);
      if (shutdown_) return stop_reason_;
    }
    if (status.error_code() == grpc::StatusCode::NOT_FOUND ||
        status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      return FromGrpcStatus(status);
    }
    const absl::Duration delay = backoff.NextDelay();
    TETHER_LOG(WARNING) << "attach to " << options_.gateway_address
                        << (attached ? " ended" : " failed") << ": "
                        << status.error_message() << "; retrying in " << delay;
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return shutdown_;
    };
    options_.clock->AwaitWithDeadline(&mu_, absl::Condition(&stopping),
                                      options_.clock->Now() + delay);
  }
}

void Agent::LoaderLoop() {
  Restore();
  {
    absl::MutexLock lock(&mu_);
    restored_ = true;
  }
  while (true) {
    LoadRevision load;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shutdown_ || pending_.has_value();
      };
      mu_.Await(absl::Condition(&ready));
      if (shutdown_) return;
      load = std::move(*pending_);
      pending_.reset();
    }
    Load(load);
  }
}

void Agent::Restore() {
  absl::StatusOr<std::string> bytes = ReadFile(ServingFile(options_.workdir));
  if (!bytes.ok()) {
    if (!absl::IsNotFound(bytes.status())) {
      TETHER_LOG(WARNING) << "cannot read what was served: " << bytes.status();
    }
    return;
  }
  LoadRevision load;
  if (!load.ParseFromString(*bytes) ||
      !sync::RevisionExists(options_.workdir, load.revision())) {
    TETHER_LOG(WARNING) << ServingFile(options_.workdir)
                        << " names no revision on disk; starting empty";
    return;
  }
  TETHER_LOG(INFO) << options_.replica << " restarts serving revision "
                   << ShortRevision(load.revision());
  const absl::Time started = metrics_->ReloadStarted();
  const absl::Status applied =
      Apply(load, sync::RevisionDir(options_.workdir, load.revision()));
  metrics_->ReloadEnded(started, applied.ok());
  if (!applied.ok()) {
    // tetherd sends what to serve on attach; that load reports the error.
    TETHER_LOG(WARNING) << "cannot serve revision "
                        << ShortRevision(load.revision())
                        << " again: " << applied;
  }
}

void Agent::Load(const LoadRevision& load) {
  std::optional<LoadRevision> serving;
  {
    absl::MutexLock lock(&mu_);
    serving = serving_;
  }
  if (serving.has_value() && SameLoad(*serving, load)) {
    Report(load, RevisionState::STATE_READY);
    return;
  }
  if (serving.has_value() && RefusedByFreeze(*serving, load)) {
    // Refused before fetching anything: freeze turns sync off too.
    Report(load, RevisionState::STATE_FAILED,
           absl::StrCat("service ", options_.service,
                        " is frozen (compute.freeze): this replica keeps "
                        "revision ",
                        ShortRevision(serving->revision()),
                        " and does not load ", ShortRevision(load.revision()),
                        "; delete the service and deploy again"));
    return;
  }
  Report(load, RevisionState::STATE_SYNCING);
  absl::StatusOr<std::string> dir = sync::PullRevision(
      *gateway_, options_.workdir, load.revision(),
      [this](grpc::ClientContext& context) { Decorate(context); });
  metrics_->SyncEnded(dir.ok());
  if (!dir.ok()) {
    Report(load, RevisionState::STATE_FAILED,
           absl::StrCat("cannot fetch the code: ", dir.status().message()));
    return;
  }
  FaultPoint("agent.revision.synced");
  Report(load, RevisionState::STATE_LOADING);
  const absl::Time started = metrics_->ReloadStarted();
  const absl::Status applied = Apply(load, *dir);
  metrics_->ReloadEnded(started, applied.ok());
  if (!applied.ok()) {
    Report(load, RevisionState::STATE_FAILED, std::string(applied.message()));
    return;
  }
  TETHER_LOG(INFO) << options_.replica << " serves revision "
                   << ShortRevision(load.revision());
  Report(load, RevisionState::STATE_READY);
}

absl::Status Agent::Apply(const LoadRevision& load, const std::string& dir) {
  const tether::v1::ServiceSpec& spec = load.spec();
  if (!options_.sidecar) {
    RETURN_IF_ERROR(pool_->Load(ConfigFor(spec, dir)));
    FaultPoint("agent.workers.loaded");
    std::vector<tether::v1::Codec> codecs;
    for (int codec : spec.compute().allowed_serialization()) {
      codecs.push_back(static_cast<tether::v1::Codec>(codec));
    }
    invoke_service_->SetAllowedCodecs(std::move(codecs));
  }
  if (app_ != nullptr) RETURN_IF_ERROR(app_->Publish(load.revision()));
  {
    absl::MutexLock lock(&mu_);
    serving_ = load;
  }
  serving_any_.store(true, std::memory_order_release);
  // Recorded only once live: a crash before this leaves the previous
  // record, whose revision dir the builder never touches.
  const absl::Status recorded = WriteFileAtomically(
      ServingFile(options_.workdir), load.SerializeAsString());
  if (!recorded.ok()) {
    TETHER_LOG(WARNING) << "cannot record the served revision (a restarted "
                           "agent will start empty): "
                        << recorded;
  }
  // Revisions no worker runs any more only take disk.
  absl::flat_hash_set<std::string> in_use = {load.revision()};
  // The server's working directory.
  if (app_ != nullptr && !app_->app_revision().empty()) {
    in_use.insert(app_->app_revision());
  }
  for (const std::string& revision_dir : pool_->RevisionDirsInUse()) {
    in_use.insert(revision_dir.substr(revision_dir.rfind('/') + 1));
  }
  if (absl::Status pruned = sync::PruneRevisions(options_.workdir, in_use);
      !pruned.ok()) {
    TETHER_LOG(WARNING) << "cannot remove old revisions: " << pruned;
  }
  return absl::OkStatus();
}

void Agent::Report(const LoadRevision& load, RevisionState::State state,
                   const std::string& error) {
  AgentMessage message;
  RevisionState* report = message.mutable_revision_state();
  report->set_revision(load.revision());
  report->set_state(state);
  report->set_error(error);
  report->set_generation(load.generation());
  if (state == RevisionState::STATE_READY) {
    report->set_python_version(pool_->ServingPythonVersion());
  }
  if (state == RevisionState::STATE_FAILED) {
    TETHER_LOG(WARNING) << "revision " << ShortRevision(load.revision())
                        << " failed: " << error;
  }
  absl::MutexLock lock(&mu_);
  // Lost when the stream is down; tetherd resends the load on re-attach.
  if (attach_stream_ != nullptr) attach_stream_->Write(message);
}

}  // namespace tether::agent
