#include "controlplane/service_registry.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "servicespec/validate.h"

namespace tether::controlplane {
namespace {

using tether::v1::ReplicaStatus;
using tether::v1::ServiceStatus;

absl::Status NotFound(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("service \"", name, "\" not found"));
}

}  // namespace

ServiceRegistry::ServiceRegistry(Options options)
    : options_(std::move(options)) {}

absl::StatusOr<std::vector<std::string>> ServiceRegistry::Load() {
  ASSIGN_OR_RETURN(std::vector<ServiceStatus> records,
                   options_.store->LoadAll());
  std::vector<std::string> names;
  for (ServiceStatus& record : records) {
    names.push_back(record.name());
    by_token_[record.token()] = record.name();
    services_[record.name()].record = std::move(record);
  }
  return names;
}

absl::StatusOr<ServiceState*> ServiceRegistry::Record(
    const tether::v1::ServiceSpec& spec, const std::string& revision) {
  auto existing = services_.find(spec.name());
  ServiceStatus record;
  if (existing != services_.end()) {
    const ServiceStatus& old = existing->second.record;
    if (old.spec().namespace_() != spec.namespace_()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "namespace: service ", spec.name(), " already exists in namespace ",
          old.spec().namespace_(),
          "; service names are unique across tetherd, so delete it there or "
          "pick another name"));
    }
    if (old.spec().compute().freeze() && spec.compute().freeze() &&
        old.revision() != revision) {
      return absl::FailedPreconditionError(absl::StrCat(
          "service ", spec.name(),
          " is frozen (compute.freeze): its code cannot change; delete it "
          "and deploy again"));
    }
    record = old;
  } else {
    *record.mutable_created() = ToProtoTimestamp(options_.clock->Now());
    record.set_token(options_.new_token());
  }
  record.set_name(spec.name());
  *record.mutable_spec() = spec;
  record.set_revision(revision);
  record.set_phase(ServiceStatus::PHASE_DEPLOYING);
  record.clear_message();
  // A deploy runs the spec's count again, waking a parked service.
  record.clear_scale();
  record.set_generation(record.generation() + 1);
  *record.mutable_updated() = ToProtoTimestamp(options_.clock->Now());
  // Durable before anything changes, so a failed write changes nothing.
  RETURN_IF_ERROR(options_.store->Put(record));
  by_token_[record.token()] = spec.name();
  ServiceState& service = services_[spec.name()];
  service.record = std::move(record);
  return &service;
}

absl::Status ServiceRegistry::Update(ServiceState& service,
                                     ServiceStatus record) {
  *record.mutable_updated() = ToProtoTimestamp(options_.clock->Now());
  RETURN_IF_ERROR(options_.store->Put(record));
  service.record = std::move(record);
  return absl::OkStatus();
}

void ServiceRegistry::Persist(ServiceState& service) {
  *service.record.mutable_updated() = ToProtoTimestamp(options_.clock->Now());
  absl::Status status = options_.store->Put(service.record);
  if (!status.ok()) {
    TETHER_LOG(ERROR) << "cannot persist service " << service.record.name()
                      << ": " << status;
  }
}

absl::StatusOr<ServiceState> ServiceRegistry::Remove(const std::string& name) {
  auto it = services_.find(name);
  if (it == services_.end()) return NotFound(name);
  RETURN_IF_ERROR(options_.store->Delete(name));
  by_token_.erase(it->second.record.token());
  ServiceState removed = std::move(it->second);
  services_.erase(it);
  return removed;
}

ServiceState* ServiceRegistry::Find(const std::string& name) {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : &it->second;
}

const ServiceState* ServiceRegistry::Find(const std::string& name) const {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : &it->second;
}

const std::string* ServiceRegistry::ServiceForToken(
    const std::string& token) const {
  if (token.empty()) return nullptr;
  auto it = by_token_.find(token);
  return it == by_token_.end() ? nullptr : &it->second;
}

absl::flat_hash_set<std::string> ServiceRegistry::LiveRevisions() const {
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

ServiceStatus StatusOf(const ServiceState& service) {
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

int32_t RunningReplicas(const ServiceStatus& record) {
  return record.has_scale()
             ? record.scale()
             : servicespec::InitialReplicas(record.spec().compute());
}

void SyncReplicas(ServiceState& service, std::vector<std::string> order) {
  service.order = std::move(order);
  for (const std::string& name : service.order) {
    ReplicaState& replica = service.replicas[name];
    if (replica.status.name().empty()) {
      replica.status.set_name(name);
      replica.status.set_phase(ReplicaStatus::PHASE_STARTING);
    }
  }
}

}  // namespace tether::controlplane
