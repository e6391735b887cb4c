#include "controlplane/service_manager.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "controlplane/code/code_store.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "spec/validate.h"

namespace tether::controlplane {
namespace {

using tether::v1::DeployEvent;
using tether::v1::ReplicaStatus;
using tether::v1::RevisionState;
using tether::v1::ServiceStatus;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      absl::ToUnixNanos(t));
}

std::string Short(const std::string& revision) {
  return revision.substr(0, 12);
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
      run_apply_(options_.run_apply ? options_.run_apply
                                    : [executor = own_executor_.get()](
                                          std::function<void()> task) {
                                        executor->Run(std::move(task));
                                      }) {}

ServiceManager::~ServiceManager() { Shutdown(); }

void ServiceManager::Shutdown() {
  if (own_executor_ != nullptr) own_executor_->Shutdown();
}

absl::Status ServiceManager::Recover() {
  absl::StatusOr<std::vector<ServiceStatus>> records =
      options_.store->LoadAll();
  if (!records.ok()) return records.status();
  std::vector<std::pair<std::string, int64_t>> to_apply;
  {
    absl::MutexLock lock(&mu_);
    for (ServiceStatus& record : *records) {
      Service& service = services_[record.name()];
      service.record = std::move(record);
      // Nobody waits on it, but finishing it records READY again.
      service.deploy = std::make_unique<Deploy>();
      service.deploy->id = next_id_++;
      UpdateRoute(service);
      to_apply.emplace_back(service.record.name(), service.record.generation());
    }
  }
  for (const auto& [name, generation] : to_apply) {
    TETHER_LOG(INFO) << "recovering service " << name;
    ApplyInBackend(name, generation);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ServiceManager::StartDeploy(
    const tether::v1::DeployRequest& request, DeployObserver* observer) {
  tether::v1::ServiceSpec spec = spec::WithDefaults(request.spec());
  absl::Status valid = spec::ValidateServiceSpec(spec);
  if (!valid.ok()) return valid;
  valid = options_.backend->Validate(spec);
  if (!valid.ok()) return valid;
  if (request.revision().empty()) {
    return absl::InvalidArgumentError(
        "revision: empty; upload the code with SyncCode first");
  }
  absl::StatusOr<bool> known =
      options_.code_store->HasRevision(request.revision());
  if (!known.ok()) return known.status();
  if (!*known) {
    return absl::NotFoundError(absl::StrCat("revision ", request.revision(),
                                            " is not in the code store"));
  }

  uint64_t id = 0;
  int64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    auto existing = services_.find(spec.name());
    ServiceStatus record;
    if (existing != services_.end()) {
      const ServiceStatus& old = existing->second.record;
      if (old.spec().compute().freeze() && spec.compute().freeze() &&
          old.revision() != request.revision()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "service ", spec.name(),
            " is frozen (compute.freeze): its code cannot change; delete it "
            "and deploy again"));
      }
      record = old;
    } else {
      *record.mutable_created() = ToProto(options_.now());
      record.set_token(options_.new_token());
    }
    record.set_name(spec.name());
    *record.mutable_spec() = spec;
    record.set_revision(request.revision());
    record.set_phase(ServiceStatus::PHASE_DEPLOYING);
    record.clear_message();
    record.set_generation(record.generation() + 1);
    *record.mutable_updated() = ToProto(options_.now());
    // Durable before anything changes, so a failed write changes nothing.
    absl::Status stored = options_.store->Put(record);
    if (!stored.ok()) return stored;

    Service& service = services_[spec.name()];
    if (service.deploy != nullptr) {
      EndDeploy(service, absl::AbortedError(absl::StrCat(
                             "superseded by a newer deploy (generation ",
                             record.generation(), ")")));
    }
    service.record = std::move(record);
    service.deploy = std::make_unique<Deploy>();
    service.deploy->id = id = next_id_++;
    service.deploy->observer = observer;
    generation = service.record.generation();
    Emit(service, DeployEvent::STAGE_ACCEPTED, "",
         absl::StrCat("generation ", generation, ", revision ",
                      Short(request.revision())));
    UpdateRoute(service);
  }
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
    auto it = services_.find(name);
    if (it == services_.end()) return;
    spec = it->second.record.spec();
    token = it->second.record.token();
  }
  absl::Status applied = options_.backend->Apply(spec, token);
  bool deleted_meanwhile;
  {
    absl::MutexLock lock(&mu_);
    deleted_meanwhile = services_.count(name) == 0;
  }
  // The delete's own backend call may have run before this apply recreated
  // the service's objects (a delete after this check runs after the apply).
  if (deleted_meanwhile) {
    absl::Status deleted = options_.backend->Delete(name);
    if (!deleted.ok()) {
      TETHER_LOG(ERROR) << "cleaning up deleted service " << name << ": "
                        << deleted;
    }
    return;
  }
  absl::MutexLock lock(&mu_);
  auto it = services_.find(name);
  // Deleted or redeployed meanwhile: the newer operation owns the service.
  if (it == services_.end() || it->second.record.generation() != generation) {
    return;
  }
  Service& service = it->second;
  if (!applied.ok()) {
    EndDeploy(service, applied);
    return;
  }
  Emit(service, DeployEvent::STAGE_APPLIED, "",
       absl::StrCat(options_.backend->Replicas(name).size(), " replica(s)"));
  SyncReplicas(service);
  for (const std::string& name : service.order) {
    Replica& replica = service.replicas[name];
    replica.crashes_in_deploy = 0;
    SendLoad(service, replica);
  }
  MaybeFinishDeploy(service);
}

void ServiceManager::SyncReplicas(Service& service) {
  service.order = options_.backend->Replicas(service.record.name());
  for (const std::string& name : service.order) {
    Replica& replica = service.replicas[name];
    if (replica.status.name().empty()) {
      replica.status.set_name(name);
      replica.status.set_phase(ReplicaStatus::PHASE_STARTING);
    }
  }
}

void ServiceManager::SendLoad(const Service& service, const Replica& replica) {
  if (replica.agent == nullptr) return;
  tether::v1::AgentCommand command;
  tether::v1::LoadRevision* load = command.mutable_load();
  load->set_revision(service.record.revision());
  *load->mutable_spec() = service.record.spec();
  load->set_generation(service.record.generation());
  replica.agent->Send(command);
}

void ServiceManager::CancelDeploy(uint64_t deploy_id) {
  absl::MutexLock lock(&mu_);
  for (auto& [name, service] : services_) {
    if (service.deploy != nullptr && service.deploy->id == deploy_id) {
      service.deploy->observer = nullptr;
    }
  }
}

void ServiceManager::Emit(Service& service, DeployEvent::Stage stage,
                          const std::string& replica,
                          const std::string& message) {
  if (service.deploy == nullptr || service.deploy->observer == nullptr) return;
  DeployEvent event;
  event.set_stage(stage);
  event.set_replica(replica);
  event.set_message(message);
  *event.mutable_time() = ToProto(options_.now());
  service.deploy->observer->OnEvent(event);
}

void ServiceManager::EndDeploy(Service& service, const absl::Status& status) {
  if (service.deploy == nullptr) return;
  if (!status.ok()) {
    service.record.set_phase(ServiceStatus::PHASE_FAILED);
    service.record.set_message(std::string(status.message()));
    Persist(service);
  }
  if (service.deploy->observer != nullptr) {
    service.deploy->observer->OnDone(status);
  }
  service.deploy.reset();
}

void ServiceManager::MaybeFinishDeploy(Service& service) {
  // A deploy that failed on the cluster's word (an image not pushed yet, no
  // node with a free GPU) heals when the cluster, still trying, gets there.
  const bool recovering = service.deploy == nullptr &&
                          service.record.phase() == ServiceStatus::PHASE_FAILED;
  // Kubernetes pods appear after the apply, one by one.
  if ((service.deploy == nullptr && !recovering) ||
      static_cast<int>(service.order.size()) <
          spec::InitialReplicas(service.record.spec().compute())) {
    return;
  }
  for (const std::string& name : service.order) {
    const Replica& replica = service.replicas[name];
    if (replica.ready_generation != service.record.generation()) return;
  }
  service.record.set_phase(ServiceStatus::PHASE_READY);
  service.record.clear_message();
  service.last_good_revision = service.record.revision();
  service.last_good_spec = service.record.spec();
  Persist(service);
  Emit(service, DeployEvent::STAGE_READY, "",
       absl::StrCat("revision ", Short(service.record.revision()), " on ",
                    service.order.size(), " replica(s)"));
  EndDeploy(service, absl::OkStatus());
  if (recovering) {
    TETHER_LOG(INFO) << "service " << service.record.name()
                     << " recovered: every replica serves revision "
                     << Short(service.record.revision());
    UpdateRoute(service);
  }
}

bool ServiceManager::RollBack(Service& service, const std::string& failed) {
  const std::string& previous = service.last_good_revision;
  if (previous.empty() || previous == service.record.revision()) return false;
  // Only a code change: a spec change may have restarted replicas or pods
  // (the backend applied it), which going back in code cannot undo.
  auto switched = [&](const auto& entry) {
    return entry.first != failed &&
           entry.second.ready_generation == service.record.generation();
  };
  if (std::none_of(service.replicas.begin(), service.replicas.end(),
                   switched) ||
      !google::protobuf::util::MessageDifferencer::Equals(
          service.record.spec(), service.last_good_spec)) {
    return false;
  }
  TETHER_LOG(WARNING) << "service " << service.record.name()
                      << ": going back to revision " << Short(previous)
                      << " after " << failed << " failed to load "
                      << Short(service.record.revision());
  service.record.set_revision(previous);
  service.record.set_generation(service.record.generation() + 1);
  Persist(service);
  for (const std::string& name : service.order) {
    SendLoad(service, service.replicas[name]);
  }
  return true;
}

void ServiceManager::Persist(Service& service) {
  *service.record.mutable_updated() = ToProto(options_.now());
  absl::Status status = options_.store->Put(service.record);
  if (!status.ok()) {
    TETHER_LOG(ERROR) << "cannot persist service " << service.record.name()
                      << ": " << status;
  }
}

void ServiceManager::UpdateRoute(const Service& service) {
  auto route = std::make_shared<Route>();
  route->service = service.record.name();
  route->token = service.record.token();
  for (int codec : service.record.spec().compute().allowed_serialization()) {
    route->allowed_codecs.push_back(static_cast<tether::v1::Codec>(codec));
  }
  for (const std::string& name : service.order) {
    auto it = service.replicas.find(name);
    // Routable while an attached agent serves some revision, including
    // the old one while a new revision loads.
    if (it != service.replicas.end() && it->second.endpoint != nullptr &&
        !it->second.status.revision().empty()) {
      route->ready.push_back(it->second.endpoint);
    }
  }
  if (service.record.phase() == ServiceStatus::PHASE_FAILED) {
    route->not_ready_reason = "last deploy failed: " + service.record.message();
  } else if (service.record.phase() == ServiceStatus::PHASE_DEPLOYING) {
    route->not_ready_reason = "deploying";
  }
  options_.router->SetRoute(std::move(route));
}

ServiceStatus ServiceManager::StatusOf(const Service& service) const {
  ServiceStatus status = service.record;
  bool all_ready = !service.order.empty();
  for (const std::string& name : service.order) {
    auto it = service.replicas.find(name);
    if (it == service.replicas.end()) continue;
    *status.add_replicas() = it->second.status;
    all_ready &= it->second.status.phase() == ReplicaStatus::PHASE_READY;
  }
  if (status.phase() == ServiceStatus::PHASE_READY && !all_ready) {
    status.set_phase(ServiceStatus::PHASE_DEGRADED);
  }
  return status;
}

absl::StatusOr<ServiceStatus> ServiceManager::GetService(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = services_.find(name);
  if (it == services_.end()) {
    return absl::NotFoundError(
        absl::StrCat("service \"", name, "\" not found"));
  }
  return StatusOf(it->second);
}

std::vector<ServiceStatus> ServiceManager::ListServices() const {
  absl::MutexLock lock(&mu_);
  std::vector<ServiceStatus> out;
  for (const auto& [name, service] : services_)
    out.push_back(StatusOf(service));
  return out;
}

absl::Status ServiceManager::DeleteService(const std::string& name) {
  {
    absl::MutexLock lock(&mu_);
    auto it = services_.find(name);
    if (it == services_.end()) {
      return absl::NotFoundError(
          absl::StrCat("service \"", name, "\" not found"));
    }
    absl::Status deleted = options_.store->Delete(name);
    if (!deleted.ok()) return deleted;
    Service& service = it->second;
    if (service.deploy != nullptr && service.deploy->observer != nullptr) {
      service.deploy->observer->OnDone(
          absl::AbortedError(absl::StrCat("service ", name, " was deleted")));
    }
    for (auto& [replica_name, replica] : service.replicas) {
      sessions_.erase(replica.session);
    }
    services_.erase(it);
    options_.router->RemoveRoute(name);
  }
  return options_.backend->Delete(name);
}

absl::StatusOr<uint64_t> ServiceManager::AttachAgent(
    const tether::v1::AgentHello& hello, const std::string& token,
    AgentConnection* connection) {
  absl::MutexLock lock(&mu_);
  auto it = services_.find(hello.service());
  if (it == services_.end()) {
    return absl::NotFoundError(
        absl::StrCat("service \"", hello.service(), "\" not found"));
  }
  Service& service = it->second;
  if (token != service.record.token()) {
    return absl::UnauthenticatedError("wrong service token");
  }
  auto replica_it = service.replicas.find(hello.replica());
  if (replica_it == service.replicas.end()) {
    // A pod's agent can dial in before the backend's watch reports the pod.
    SyncReplicas(service);
    replica_it = service.replicas.find(hello.replica());
  }
  if (replica_it == service.replicas.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "service ", hello.service(), " has no replica ", hello.replica()));
  }
  Replica& replica = replica_it->second;
  if (replica.session != 0) sessions_.erase(replica.session);
  const uint64_t session = next_id_++;
  sessions_[session] = {hello.service(), hello.replica()};
  replica.session = session;
  replica.agent = connection;
  replica.ready_generation = 0;
  replica.status.set_address(hello.invoke_address());
  replica.status.set_revision(hello.serving_revision());
  replica.status.set_phase(ReplicaStatus::PHASE_LOADING);
  replica.status.clear_message();
  auto endpoint = std::make_shared<AgentEndpoint>();
  endpoint->replica = hello.replica();
  endpoint->address = hello.invoke_address();
  endpoint->stub = options_.router->NewAgentStub(hello.invoke_address());
  replica.endpoint = std::move(endpoint);
  TETHER_LOG(INFO) << "agent " << hello.replica() << " attached from "
                   << hello.invoke_address();
  Emit(service, DeployEvent::STAGE_REPLICA_ATTACHED, hello.replica(),
       absl::StrCat("agent at ", hello.invoke_address()));
  UpdateRoute(service);
  SendLoad(service, replica);
  return session;
}

void ServiceManager::OnRevisionState(uint64_t session,
                                     const RevisionState& state) {
  absl::MutexLock lock(&mu_);
  auto session_it = sessions_.find(session);
  if (session_it == sessions_.end()) return;
  const auto& [service_name, replica_name] = session_it->second;
  Service& service = services_[service_name];
  Replica& replica = service.replicas[replica_name];
  const bool current = state.generation() == service.record.generation();
  TETHER_LOG(INFO) << replica_name << ": revision " << Short(state.revision())
                   << " generation " << state.generation() << " "
                   << RevisionState::State_Name(state.state());
  switch (state.state()) {
    case RevisionState::STATE_SYNCING:
      if (current) {
        Emit(service, DeployEvent::STAGE_REPLICA_SYNCING, replica_name,
             absl::StrCat("fetching revision ", Short(state.revision())));
      }
      break;
    case RevisionState::STATE_LOADING:
      if (current) {
        Emit(service, DeployEvent::STAGE_REPLICA_LOADING, replica_name,
             absl::StrCat("importing ",
                          service.record.spec().callable().module(), ".",
                          service.record.spec().callable().name()));
      }
      break;
    case RevisionState::STATE_READY:
      replica.status.set_revision(state.revision());
      replica.status.set_phase(ReplicaStatus::PHASE_READY);
      replica.status.clear_message();
      replica.ready_generation = state.generation();
      UpdateRoute(service);
      if (current) {
        Emit(service, DeployEvent::STAGE_REPLICA_READY, replica_name,
             absl::StrCat("serving revision ", Short(state.revision())));
        MaybeFinishDeploy(service);
      }
      break;
    case RevisionState::STATE_FAILED:
      replica.status.set_message(state.error());
      // Old workers keep serving when there are any.
      replica.status.set_phase(replica.status.revision().empty()
                                   ? ReplicaStatus::PHASE_FAILED
                                   : ReplicaStatus::PHASE_READY);
      if (current) {
        std::string message =
            absl::StrCat("replica ", replica_name, " failed to load revision ",
                         Short(state.revision()), ": ", state.error());
        if (RollBack(service, replica_name)) {
          message =
              absl::StrCat(message, "\n(every replica goes back to ",
                           "revision ", Short(service.record.revision()), ")");
        }
        EndDeploy(service, absl::FailedPreconditionError(message));
        UpdateRoute(service);
      }
      break;
    default:
      break;
  }
}

void ServiceManager::DetachAgent(uint64_t session) {
  absl::MutexLock lock(&mu_);
  auto session_it = sessions_.find(session);
  if (session_it == sessions_.end()) return;
  const auto [service_name, replica_name] = session_it->second;
  sessions_.erase(session_it);
  Service& service = services_[service_name];
  auto it = service.replicas.find(replica_name);
  if (it == service.replicas.end()) return;
  Replica& replica = it->second;
  // A redialed agent may have replaced this session already.
  if (replica.session != session) return;
  replica.agent = nullptr;
  replica.session = 0;
  replica.endpoint.reset();
  replica.ready_generation = 0;
  replica.status.set_phase(ReplicaStatus::PHASE_LOST);
  replica.status.clear_revision();
  UpdateRoute(service);
}

absl::flat_hash_set<std::string> ServiceManager::LiveRevisions() const {
  absl::MutexLock lock(&mu_);
  absl::flat_hash_set<std::string> revisions;
  for (const auto& [name, service] : services_) {
    revisions.insert(service.record.revision());
    for (const auto& [replica_name, replica] : service.replicas) {
      if (!replica.status.revision().empty()) {
        revisions.insert(replica.status.revision());
      }
    }
  }
  return revisions;
}

bool ServiceManager::IsAgentToken(const std::string& token) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [name, service] : services_) {
    if (!token.empty() && service.record.token() == token) return true;
  }
  return false;
}

void ServiceManager::OnReplicaStarted(const std::string& service_name,
                                      const std::string& replica_name) {
  absl::MutexLock lock(&mu_);
  auto it = services_.find(service_name);
  if (it == services_.end()) return;
  Service& service = it->second;
  auto replica = service.replicas.find(replica_name);
  if (replica == service.replicas.end()) {
    // A new pod (scale-up, rolling update, rescheduling).
    SyncReplicas(service);
    replica = service.replicas.find(replica_name);
    if (replica == service.replicas.end()) return;
    UpdateRoute(service);
  }
  if (replica->second.agent == nullptr) {
    replica->second.status.set_phase(ReplicaStatus::PHASE_STARTING);
  }
  // The stage says it all; a pod's progress comes as pending events.
  Emit(service, DeployEvent::STAGE_REPLICA_STARTED, replica_name, "");
}

void ServiceManager::OnReplicaExited(const std::string& service_name,
                                     const std::string& replica_name,
                                     const ReplicaExit& exit) {
  absl::MutexLock lock(&mu_);
  auto it = services_.find(service_name);
  if (it == services_.end()) return;
  Service& service = it->second;
  auto replica_it = service.replicas.find(replica_name);
  if (replica_it == service.replicas.end()) return;
  Replica& replica = replica_it->second;
  if (!exit.will_restart) {
    sessions_.erase(replica.session);
    service.replicas.erase(replica_it);
    UpdateRoute(service);
    return;
  }
  // Stopped to start again with a new environment: not a crash.
  if (exit.cause == ReplicaExit::Cause::kStoppedByBackend) return;
  replica.status.set_restarts(replica.status.restarts() + 1);
  replica.status.set_message(exit.description);
  if (service.deploy != nullptr &&
      ++replica.crashes_in_deploy >= options_.max_crashes_per_deploy) {
    EndDeploy(service,
              absl::UnavailableError(absl::StrCat(
                  "replica keeps crashing (", replica.crashes_in_deploy,
                  " times): ", exit.description)));
    UpdateRoute(service);
  }
}

ServiceManager::Service* ServiceManager::SetReplicaMessage(
    const std::string& service_name, const std::string& replica_name,
    const std::string& message) {
  auto it = services_.find(service_name);
  if (it == services_.end()) return nullptr;
  auto replica = it->second.replicas.find(replica_name);
  if (replica != it->second.replicas.end()) {
    replica->second.status.set_message(message);
  }
  return &it->second;
}

void ServiceManager::OnReplicaPending(const std::string& service_name,
                                      const std::string& replica_name,
                                      const std::string& message) {
  absl::MutexLock lock(&mu_);
  Service* service = SetReplicaMessage(service_name, replica_name, message);
  if (service == nullptr) return;
  Emit(*service, DeployEvent::STAGE_REPLICA_PENDING, replica_name, message);
}

void ServiceManager::OnReplicaFailing(const std::string& service_name,
                                      const std::string& replica_name,
                                      const std::string& problem) {
  absl::MutexLock lock(&mu_);
  Service* service = SetReplicaMessage(service_name, replica_name, problem);
  if (service == nullptr) return;
  // The cluster keeps retrying, so a fix (a pushed image, a new node) can
  // still bring the replica up; but the deploy says what is wrong now
  // instead of timing out.
  EndDeploy(*service,
            absl::FailedPreconditionError(
                replica_name.empty()
                    ? problem
                    : absl::StrCat("replica ", replica_name, ": ", problem)));
  UpdateRoute(*service);
}

}  // namespace tether::controlplane
