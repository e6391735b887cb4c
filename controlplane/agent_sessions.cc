#include "controlplane/agent_sessions.h"

#include <algorithm>

#include "common/log.h"
#include "common/revision_id.h"
#include "google/protobuf/util/message_differencer.h"

namespace tether::controlplane {

using tether::v1::ReplicaStatus;
using tether::v1::RevisionState;

uint64_t AgentSessions::Attach(ReplicaState& replica,
                               const tether::v1::AgentHello& hello,
                               AgentConnection* connection,
                               std::shared_ptr<AgentEndpoint> endpoint) {
  if (replica.session != 0) sessions_.erase(replica.session);
  const uint64_t session = next_id_++;
  sessions_[session] = {hello.service(), hello.replica()};
  replica.session = session;
  replica.agent = connection;
  replica.ready_generation = 0;
  replica.status.set_address(hello.invoke_address());
  replica.status.set_app_address(hello.app_address());
  replica.status.set_revision(hello.serving_revision());
  replica.status.set_phase(ReplicaStatus::PHASE_LOADING);
  replica.status.clear_message();
  replica.endpoint = std::move(endpoint);
  return session;
}

std::optional<AgentSessions::Bound> AgentSessions::Find(uint64_t session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return std::nullopt;
  ServiceState* service = registry_->Find(it->second.first);
  if (service == nullptr) return std::nullopt;
  auto replica = service->replicas.find(it->second.second);
  if (replica == service->replicas.end()) return std::nullopt;
  return Bound{service, &replica->first, &replica->second};
}

ServiceState* AgentSessions::Detach(uint64_t session) {
  std::optional<Bound> bound = Find(session);
  sessions_.erase(session);
  // A redialed agent may have replaced this session already.
  if (!bound.has_value() || bound->replica->session != session) return nullptr;
  ReplicaState& replica = *bound->replica;
  replica.agent = nullptr;
  replica.session = 0;
  replica.endpoint.reset();
  replica.ready_generation = 0;
  replica.status.set_phase(ReplicaStatus::PHASE_LOST);
  replica.status.clear_revision();
  return bound->service;
}

void AgentSessions::Forget(const ReplicaState& replica) {
  sessions_.erase(replica.session);
}

void AgentSessions::SendLoad(const ServiceState& service,
                             const ReplicaState& replica) {
  if (replica.agent == nullptr) return;
  tether::v1::AgentCommand command;
  tether::v1::LoadRevision* load = command.mutable_load();
  load->set_revision(service.record.revision());
  *load->mutable_spec() = service.record.spec();
  load->set_generation(service.record.generation());
  replica.agent->Send(command);
}

void AgentSessions::ApplyRevisionState(ReplicaState& replica,
                                       const RevisionState& state) {
  switch (state.state()) {
    case RevisionState::STATE_READY:
      replica.status.set_revision(state.revision());
      replica.status.set_phase(ReplicaStatus::PHASE_READY);
      replica.status.clear_message();
      replica.status.set_python_version(state.python_version());
      replica.ready_generation = state.generation();
      break;
    case RevisionState::STATE_FAILED:
      replica.status.set_message(state.error());
      // Old workers keep serving when there are any.
      replica.status.set_phase(replica.status.revision().empty()
                                   ? ReplicaStatus::PHASE_FAILED
                                   : ReplicaStatus::PHASE_READY);
      break;
    default:
      break;
  }
}

bool AgentSessions::RollBack(ServiceState& service, const std::string& failed) {
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
                      << ": going back to revision " << ShortRevision(previous)
                      << " after " << failed << " failed to load "
                      << ShortRevision(service.record.revision());
  service.record.set_revision(previous);
  service.record.set_generation(service.record.generation() + 1);
  registry_->Persist(service);
  for (const std::string& name : service.order) {
    SendLoad(service, service.replicas[name]);
  }
  return true;
}

}  // namespace tether::controlplane
