#include "controlplane/service_manager.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fault_point.h"
#include "common/log.h"
#include "common/revision_id.h"
#include "common/status_macros.h"
#include "controlplane/code/code_store.h"
#include "servicespec/validate.h"

namespace tether::controlplane {
namespace {

using tether::v1::DeployEvent;
using tether::v1::ReplicaStatus;
using tether::v1::RevisionState;
using tether::v1::ServiceStatus;

absl::Status NotFound(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("service \"", name, "\" not found"));
}

ServiceRegistry::Options RegistryOptions(
    const ServiceManager::Options& options) {
  ServiceRegistry::Options registry;
  registry.store = options.store;
  registry.clock = options.clock;
  registry.new_token = options.new_token;
  return registry;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceManager>> ServiceManager::Create(
    Options options) {
  if (options.backend == nullptr || options.store == nullptr ||
      options.code_store == nullptr || options.router == nullptr ||
      !options.new_token) {
    return absl::InvalidArgumentError(
        "ServiceManager needs a backend, stores, a router and new_token");
  }
  return std::unique_ptr<ServiceManager>(
      new ServiceManager(std::move(options)));
}

ServiceManager::ServiceManager(Options options)
    : options_(std::move(options)),
      own_executor_(options_.run_apply ? nullptr
                                       : std::make_unique<SerialExecutor>()),
      run_apply_(options_.run_apply
                     ? options_.run_apply
                     : [executor = own_executor_.get()](
                           std::function<void()>
                               task) { executor->Run(std::move(task)); }),
      routes_(options_.router),
      registry_(RegistryOptions(options_)),
      deploys_(options_.clock),
      sessions_(&registry_),
      listeners_{&routes_} {}

ServiceManager::~ServiceManager() { Shutdown(); }

void ServiceManager::AddListener(ServiceListener* listener) {
  absl::MutexLock lock(&mu_);
  listeners_.push_back(listener);
}

void ServiceManager::Shutdown() {
  {
    // Deletes asked for from now on are refused; queued ones still run.
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
  }
  delete_executor_.Shutdown();
  if (own_executor_ != nullptr) own_executor_->Shutdown();
}

absl::Status ServiceManager::Recover() {
  std::vector<std::pair<std::string, int64_t>> to_apply;
  absl::flat_hash_set<std::string> has_scale;
  {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(std::vector<std::string> names, registry_.Load());
    for (const std::string& name : names) {
      ServiceState& service = *registry_.Find(name);
      // Records from before namespaces: the next write stores it.
      if (service.record.spec().namespace_().empty()) {
        service.record.mutable_spec()->set_namespace_(
            options_.default_namespace);
      }
      if (service.record.has_scale()) has_scale.insert(name);
      // Nobody waits on it, but finishing it records READY again.
      if (RunningReplicas(service.record) > 0) deploys_.Start(name, nullptr);
      Changed(service);
      to_apply.emplace_back(name, service.record.generation());
    }
  }
  for (const auto& [name, generation] : to_apply) {
    TETHER_LOG(INFO) << "recovering service " << name;
    // A service scaled by hand or by its TTL stays as it was: applying
    // the spec would bring back its count.
    if (has_scale.contains(name)) {
      ScaleInBackend(name, generation);
    } else {
      ApplyInBackend(name, generation);
    }
  }
  return absl::OkStatus();
}

absl::Status ServiceManager::CheckDeploy(
    const tether::v1::DeployRequest& request,
    const tether::v1::ServiceSpec& spec) const {
  RETURN_IF_ERROR(servicespec::ValidateServiceSpec(spec));
  RETURN_IF_ERROR(options_.backend->Validate(spec));
  if (request.revision().empty()) {
    return absl::InvalidArgumentError(
        "revision: empty; upload the code with SyncCode first");
  }
  ASSIGN_OR_RETURN(const bool known,
                   options_.code_store->HasRevision(request.revision()));
  if (!known) {
    return absl::NotFoundError(absl::StrCat("revision ", request.revision(),
                                            " is not in the code store"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ServiceManager::StartDeploy(
    const tether::v1::DeployRequest& request, DeployObserver* observer) {
  tether::v1::ServiceSpec spec = servicespec::WithDefaults(request.spec());
  spec.set_namespace_(NamespaceFor(spec));
  RETURN_IF_ERROR(CheckDeploy(request, spec));
  uint64_t id = 0;
  int64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(ServiceState * service,
                     registry_.Record(spec, request.revision()));
    generation = service->record.generation();
    // The newer record is stored already: superseding does not mark the
    // service failed.
    EndTrackedDeploy(
        spec.name(),
        absl::AbortedError(absl::StrCat(
            "superseded by a newer deploy (generation ", generation, ")")));
    id = deploys_.Start(spec.name(), observer);
    Emit(*service, DeployEvent::STAGE_ACCEPTED, "",
         absl::StrCat("generation ", generation, ", revision ",
                      ShortRevision(request.revision())));
    Changed(*service);
  }
  FaultPoint("deploy.record.stored");
  run_apply_([this, name = spec.name(), generation] {
    ApplyInBackend(name, generation);
  });
  return id;
}

void ServiceManager::ApplyInBackend(const std::string& name,
                                    int64_t generation) {
  tether::v1::ServiceSpec spec;
  std::string token;
  {
    absl::MutexLock lock(&mu_);
    const ServiceState* service = registry_.Find(name);
    if (service == nullptr) return;
    spec = service->record.spec();
    token = service->record.token();
  }
  absl::Status applied = options_.backend->Apply(spec, token);
  bool deleted_meanwhile;
  {
    absl::MutexLock lock(&mu_);
    deleted_meanwhile = registry_.Find(name) == nullptr;
  }
  // The delete's own backend call may have run before this apply recreated
  // the service's objects (a delete after this check runs after the apply).
  if (deleted_meanwhile) {
    absl::Status deleted = options_.backend->Delete(spec);
    if (!deleted.ok()) {
      TETHER_LOG(ERROR) << "cleaning up deleted service " << name << ": "
                        << deleted;
    }
    return;
  }
  absl::MutexLock lock(&mu_);
  ServiceState* service = registry_.Find(name);
  // Deleted or redeployed meanwhile: the newer operation owns the service.
  if (service == nullptr || service->record.generation() != generation) {
    return;
  }
  Applied(*service, applied);
}

void ServiceManager::Applied(ServiceState& service,
                             const absl::Status& applied) {
  if (!applied.ok()) {
    EndDeploy(service, applied);
    return;
  }
  const std::string& name = service.record.name();
  Emit(service, DeployEvent::STAGE_APPLIED, "",
       absl::StrCat(options_.backend->Replicas(name).size(), " replica(s)"));
  SyncReplicas(service);
  for (const std::string& replica_name : service.order) {
    ReplicaState& replica = service.replicas[replica_name];
    replica.crashes_in_deploy = 0;
    AgentSessions::SendLoad(service, replica);
  }
  MaybeFinishDeploy(service);
}

absl::StatusOr<ServiceStatus> ServiceManager::Scale(
    const std::string& name, std::optional<int32_t> replicas,
    const std::string& why) {
  if (replicas.has_value() && *replicas < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("replicas: must be at least 0, not ", *replicas));
  }
  ServiceStatus status;
  int64_t generation = 0;
  bool parks = false;
  bool was_parked = false;
  {
    absl::MutexLock lock(&mu_);
    ServiceState* service = registry_.Find(name);
    if (service == nullptr) return NotFound(name);
    const tether::v1::Compute& compute = service->record.spec().compute();
    if (!servicespec::Scalable(service->record.spec())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "service ", name, " runs in a ",
          servicespec::WorkloadKind(service->record.spec()),
          ", which cannot be scaled: its pods end with their work"));
    }
    if (replicas.has_value() && *replicas != 0 && compute.has_distributed() &&
        *replicas != compute.distributed().workers()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "service ", name, " is distributed over ",
          compute.distributed().workers(), " workers: it runs 0 or ",
          compute.distributed().workers(), " replicas, not ", *replicas));
    }
    ServiceStatus record = service->record;
    was_parked = RunningReplicas(record) == 0;
    if (replicas.has_value()) {
      record.set_scale(*replicas);
    } else {
      record.clear_scale();
    }
    parks = RunningReplicas(record) == 0;
    if (parks) {
      record.set_phase(ServiceStatus::PHASE_IDLE);
      record.set_message(why);
    } else if (was_parked) {
      record.set_phase(ServiceStatus::PHASE_DEPLOYING);
      record.set_message(why);
    }
    RETURN_IF_ERROR(registry_.Update(*service, std::move(record)));
    TETHER_LOG(INFO) << "service " << name << " scales to "
                     << RunningReplicas(service->record) << ": " << why;
    if (parks) {
      EndTrackedDeploy(name, absl::AbortedError(absl::StrCat(
                                 "service ", name, " was scaled to zero")));
      // A wake-up must hear READY again, even from a replica that has not
      // stopped yet.
      for (auto& [replica_name, replica] : service->replicas) {
        replica.ready_generation = 0;
      }
    } else if (was_parked) {
      // Like a deploy nobody watches: READY once every replica serves, or
      // FAILED with the reason one cannot start.
      deploys_.Start(name, nullptr);
    }
    generation = service->record.generation();
    status = StatusOf(*service);
    Changed(*service);
  }
  if (parks) FaultPoint("scale.parked.stored");
  if (was_parked && !parks) FaultPoint("scale.woken.stored");
  run_apply_([this, name, generation] { ScaleInBackend(name, generation); });
  return status;
}

void ServiceManager::ScaleInBackend(const std::string& name,
                                    int64_t generation) {
  tether::v1::ServiceSpec spec;
  std::string token;
  int32_t replicas = 0;
  {
    absl::MutexLock lock(&mu_);
    const ServiceState* service = registry_.Find(name);
    // Deleted or redeployed meanwhile: the newer operation owns the count.
    if (service == nullptr || service->record.generation() != generation) {
      return;
    }
    spec = service->record.spec();
    token = service->record.token();
    replicas = RunningReplicas(service->record);
  }
  const absl::Status scaled = options_.backend->Scale(spec, token, replicas);
  if (!scaled.ok()) {
    TETHER_LOG(ERROR) << "scaling " << name << " to " << replicas << ": "
                      << scaled;
  }
  absl::MutexLock lock(&mu_);
  ServiceState* service = registry_.Find(name);
  if (service == nullptr || service->record.generation() != generation) {
    return;
  }
  Applied(*service, scaled);
}

void ServiceManager::SyncReplicas(ServiceState& service) {
  controlplane::SyncReplicas(service,
                             options_.backend->Replicas(service.record.name()));
}

void ServiceManager::CancelDeploy(uint64_t deploy_id) {
  absl::MutexLock lock(&mu_);
  deploys_.Detach(deploy_id);
}

void ServiceManager::Changed(const ServiceState& service) {
  for (ServiceListener* listener : listeners_) {
    listener->OnServiceChanged(service);
  }
}

void ServiceManager::Emit(const ServiceState& service, DeployEvent::Stage stage,
                          const std::string& replica,
                          const std::string& message) {
  deploys_.Emit(service.record.name(), stage, replica, message);
}

void ServiceManager::EndDeploy(ServiceState& service,
                               const absl::Status& status) {
  if (!deploys_.InProgress(service.record.name())) return;
  if (!status.ok()) {
    service.record.set_phase(ServiceStatus::PHASE_FAILED);
    service.record.set_message(std::string(status.message()));
    registry_.Persist(service);
  }
  EndTrackedDeploy(service.record.name(), status);
}

void ServiceManager::EndTrackedDeploy(const std::string& name,
                                      const absl::Status& status) {
  const bool requested = deploys_.Requested(name);
  if (!deploys_.End(name, status) || !requested) return;
  for (ServiceListener* listener : listeners_) {
    listener->OnDeployEnded(name, status);
  }
}

void ServiceManager::MaybeFinishDeploy(ServiceState& service) {
  const bool deploying = deploys_.InProgress(service.record.name());
  // A deploy that failed on the cluster's word (an image not pushed yet, no
  // node with a free GPU) heals when the cluster, still trying, gets there.
  const bool recovering =
      !deploying && service.record.phase() == ServiceStatus::PHASE_FAILED &&
      RunningReplicas(service.record) > 0;
  // Kubernetes pods appear after the apply, one by one.
  if ((!deploying && !recovering) || static_cast<int>(service.order.size()) <
                                         RunningReplicas(service.record)) {
    return;
  }
  for (const std::string& name : service.order) {
    const ReplicaState& replica = service.replicas[name];
    if (replica.ready_generation != service.record.generation()) return;
  }
  service.record.set_phase(ServiceStatus::PHASE_READY);
  service.record.clear_message();
  service.last_good_revision = service.record.revision();
  service.last_good_spec = service.record.spec();
  registry_.Persist(service);
  Emit(service, DeployEvent::STAGE_READY, "",
       absl::StrCat("revision ", ShortRevision(service.record.revision()),
                    " on ", service.order.size(), " replica(s)"));
  EndDeploy(service, absl::OkStatus());
  if (recovering) {
    TETHER_LOG(INFO) << "service " << service.record.name()
                     << " recovered: every replica serves revision "
                     << ShortRevision(service.record.revision());
    Changed(service);
  }
}

absl::StatusOr<ServiceStatus> ServiceManager::GetService(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  const ServiceState* service = registry_.Find(name);
  if (service == nullptr) return NotFound(name);
  return StatusOf(*service);
}

std::optional<std::string> ServiceManager::NamespaceOf(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  const ServiceState* service = registry_.Find(name);
  if (service == nullptr) return std::nullopt;
  return service->record.spec().namespace_();
}

std::string ServiceManager::NamespaceFor(
    const tether::v1::ServiceSpec& spec) const {
  return spec.namespace_().empty() ? options_.default_namespace
                                   : spec.namespace_();
}

std::vector<ServiceStatus> ServiceManager::ListServices() const {
  absl::MutexLock lock(&mu_);
  std::vector<ServiceStatus> out;
  for (const auto& [name, service] : registry_.services()) {
    out.push_back(StatusOf(service));
  }
  return out;
}

void ServiceManager::DeleteService(const std::string& name,
                                   std::function<void(absl::Status)> done) {
  {
    absl::MutexLock lock(&mu_);
    // Queued under the lock, so Shutdown drains every delete it let in.
    if (!shut_down_) {
      delete_executor_.Run(
          [this, name, done = std::move(done)] { done(Delete(name)); });
      return;
    }
  }
  done(absl::UnavailableError("tetherd is shutting down"));
}

absl::Status ServiceManager::Delete(const std::string& name) {
  tether::v1::ServiceSpec spec;
  {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(ServiceState removed, registry_.Remove(name));
    spec = removed.record.spec();
    EndTrackedDeploy(name, absl::AbortedError(
                               absl::StrCat("service ", name, " was deleted")));
    for (const auto& [replica_name, replica] : removed.replicas) {
      sessions_.Forget(replica);
    }
    for (ServiceListener* listener : listeners_) {
      listener->OnServiceRemoved(name);
    }
  }
  return options_.backend->Delete(spec);
}

absl::StatusOr<uint64_t> ServiceManager::AttachAgent(
    const tether::v1::AgentHello& hello, const std::string& token,
    AgentConnection* connection) {
  // Made before taking the lock: making a channel may resolve the address.
  auto endpoint = std::make_shared<AgentEndpoint>();
  endpoint->replica = hello.replica();
  endpoint->address = hello.invoke_address();
  endpoint->stub = options_.router->NewAgentStub(hello.invoke_address());

  absl::MutexLock lock(&mu_);
  // The token first: an unknown service and a wrong token answer alike.
  const std::string* owner = registry_.ServiceForToken(token);
  if (owner == nullptr || *owner != hello.service()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the token is not service ", hello.service(), "'s agent token"));
  }
  ServiceState* service = registry_.Find(hello.service());
  auto replica = service->replicas.find(hello.replica());
  if (replica == service->replicas.end()) {
    // A pod's agent can dial in before the backend's watch reports the pod.
    SyncReplicas(*service);
    replica = service->replicas.find(hello.replica());
  }
  if (replica == service->replicas.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "service ", hello.service(), " has no replica ", hello.replica()));
  }
  const uint64_t session =
      sessions_.Attach(replica->second, hello, connection, std::move(endpoint));
  TETHER_LOG(INFO) << "agent " << hello.replica() << " attached from "
                   << hello.invoke_address();
  Emit(*service, DeployEvent::STAGE_REPLICA_ATTACHED, hello.replica(),
       absl::StrCat("agent at ", hello.invoke_address()));
  Changed(*service);
  AgentSessions::SendLoad(*service, replica->second);
  return session;
}

void ServiceManager::OnRevisionState(uint64_t session,
                                     const RevisionState& state) {
  absl::MutexLock lock(&mu_);
  std::optional<AgentSessions::Bound> bound = sessions_.Find(session);
  if (!bound.has_value()) return;
  ServiceState& service = *bound->service;
  const std::string& replica = *bound->replica_name;
  const bool current = state.generation() == service.record.generation();
  TETHER_LOG(INFO) << replica << ": revision "
                   << ShortRevision(state.revision()) << " generation "
                   << state.generation() << " "
                   << RevisionState::State_Name(state.state());
  AgentSessions::ApplyRevisionState(*bound->replica, state);
  switch (state.state()) {
    case RevisionState::STATE_SYNCING:
      if (current) {
        Emit(service, DeployEvent::STAGE_REPLICA_SYNCING, replica,
             absl::StrCat("fetching revision ",
                          ShortRevision(state.revision())));
      }
      break;
    case RevisionState::STATE_LOADING:
      if (current) {
        Emit(service, DeployEvent::STAGE_REPLICA_LOADING, replica,
             absl::StrCat("importing ",
                          service.record.spec().callable().module(), ".",
                          service.record.spec().callable().name()));
      }
      break;
    case RevisionState::STATE_READY:
      Changed(service);
      if (current) {
        Emit(
            service, DeployEvent::STAGE_REPLICA_READY, replica,
            absl::StrCat("serving revision ", ShortRevision(state.revision())));
        MaybeFinishDeploy(service);
      }
      break;
    case RevisionState::STATE_FAILED:
      if (current) FailLoad(service, replica, state);
      break;
    default:
      break;
  }
}

void ServiceManager::FailLoad(ServiceState& service, const std::string& replica,
                              const RevisionState& state) {
  std::string message =
      absl::StrCat("replica ", replica, " failed to load revision ",
                   ShortRevision(state.revision()), ": ", state.error());
  if (sessions_.RollBack(service, replica)) {
    message =
        absl::StrCat(message, "\n(every replica goes back to ", "revision ",
                     ShortRevision(service.record.revision()), ")");
  }
  EndDeploy(service, absl::FailedPreconditionError(message));
  Changed(service);
}

void ServiceManager::DetachAgent(uint64_t session) {
  absl::MutexLock lock(&mu_);
  ServiceState* service = sessions_.Detach(session);
  if (service != nullptr) Changed(*service);
}

absl::flat_hash_set<std::string> ServiceManager::LiveRevisions() const {
  absl::MutexLock lock(&mu_);
  return registry_.LiveRevisions();
}

std::optional<std::string> ServiceManager::ServiceForAgentToken(
    const std::string& token) const {
  absl::MutexLock lock(&mu_);
  const std::string* name = registry_.ServiceForToken(token);
  if (name == nullptr) return std::nullopt;
  return *name;
}

absl::Status ServiceManager::CheckAgentPull(const std::string& token,
                                            const std::string& revision) const {
  absl::MutexLock lock(&mu_);
  const std::string* name = registry_.ServiceForToken(token);
  if (name == nullptr) return absl::UnauthenticatedError("wrong service token");
  const ServiceState* service = registry_.Find(*name);
  bool own = service->record.revision() == revision ||
             service->last_good_revision == revision;
  for (const auto& [replica_name, replica] : service->replicas) {
    own = own || replica.status.revision() == revision;
  }
  if (own) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "service ", *name, "'s agents may pull only its own revisions"));
}

void ServiceManager::OnReplicaStarted(const std::string& service_name,
                                      const std::string& replica_name) {
  absl::MutexLock lock(&mu_);
  ServiceState* service = registry_.Find(service_name);
  if (service == nullptr) return;
  auto replica = service->replicas.find(replica_name);
  if (replica == service->replicas.end()) {
    // A new pod (scale-up, rolling update, rescheduling).
    SyncReplicas(*service);
    replica = service->replicas.find(replica_name);
    if (replica == service->replicas.end()) return;
    Changed(*service);
  }
  if (replica->second.agent == nullptr) {
    replica->second.status.set_phase(ReplicaStatus::PHASE_STARTING);
  }
  // The stage says it all; a pod's progress comes as pending events.
  Emit(*service, DeployEvent::STAGE_REPLICA_STARTED, replica_name, "");
}

void ServiceManager::OnReplicaExited(const std::string& service_name,
                                     const std::string& replica_name,
                                     const ReplicaExit& exit) {
  absl::MutexLock lock(&mu_);
  ServiceState* service = registry_.Find(service_name);
  if (service == nullptr) return;
  auto replica_it = service->replicas.find(replica_name);
  if (replica_it == service->replicas.end()) return;
  ReplicaState& replica = replica_it->second;
  if (!exit.will_restart) {
    sessions_.Forget(replica);
    service->replicas.erase(replica_it);
    Changed(*service);
    return;
  }
  // Stopped to start again with a new environment: not a crash.
  if (exit.cause == ReplicaExit::Cause::kStoppedByBackend) return;
  replica.status.set_restarts(replica.status.restarts() + 1);
  replica.status.set_message(exit.description);
  if (deploys_.InProgress(service_name) &&
      ++replica.crashes_in_deploy >= options_.max_crashes_per_deploy) {
    EndDeploy(*service,
              absl::UnavailableError(absl::StrCat(
                  "replica keeps crashing (", replica.crashes_in_deploy,
                  " times): ", exit.description)));
    Changed(*service);
  }
}

ServiceState* ServiceManager::SetReplicaMessage(const std::string& service_name,
                                                const std::string& replica_name,
                                                const std::string& message) {
  ServiceState* service = registry_.Find(service_name);
  if (service == nullptr) return nullptr;
  auto replica = service->replicas.find(replica_name);
  if (replica != service->replicas.end()) {
    replica->second.status.set_message(message);
  }
  return service;
}

void ServiceManager::OnReplicaPending(const std::string& service_name,
                                      const std::string& replica_name,
                                      const std::string& message) {
  absl::MutexLock lock(&mu_);
  ServiceState* service =
      SetReplicaMessage(service_name, replica_name, message);
  if (service == nullptr) return;
  Emit(*service, DeployEvent::STAGE_REPLICA_PENDING, replica_name, message);
}

void ServiceManager::OnReplicaFailing(const std::string& service_name,
                                      const std::string& replica_name,
                                      const std::string& problem) {
  absl::MutexLock lock(&mu_);
  ServiceState* service =
      SetReplicaMessage(service_name, replica_name, problem);
  if (service == nullptr) return;
  // The cluster keeps retrying, so a fix (a pushed image, a new node) can
  // still bring the replica up; but the deploy says what is wrong now
  // instead of timing out.
  EndDeploy(*service,
            absl::FailedPreconditionError(
                replica_name.empty()
                    ? problem
                    : absl::StrCat("replica ", replica_name, ": ", problem)));
  Changed(*service);
}

}  // namespace tether::controlplane
