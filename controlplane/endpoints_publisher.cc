#include "controlplane/endpoints_publisher.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "controlplane/routes.h"
#include "controlplane/service_registry.h"
#include "google/protobuf/util/message_differencer.h"

namespace tether::controlplane {

tether::v1::Endpoints BuildEndpoints(const ServiceState& service) {
  tether::v1::Endpoints endpoints;
  endpoints.set_service(service.record.name());
  endpoints.set_token(service.record.token());
  for (int codec : service.record.spec().compute().allowed_serialization()) {
    endpoints.add_allowed_codecs(static_cast<tether::v1::Codec>(codec));
  }
  for (const std::string& name : service.order) {
    auto it = service.replicas.find(name);
    if (it == service.replicas.end() || !IsRoutable(it->second)) continue;
    tether::v1::Endpoint* endpoint = endpoints.add_endpoints();
    endpoint->set_replica(name);
    endpoint->set_address(it->second.endpoint->address);
    endpoint->set_revision(it->second.status.revision());
    endpoint->set_python_version(it->second.status.python_version());
  }
  endpoints.set_idle(RunningReplicas(service.record) == 0);
  if (endpoints.endpoints().empty()) {
    std::string reason = NotReadyReason(service);
    endpoints.set_not_ready_reason(reason.empty() ? "no replica is ready"
                                                  : std::move(reason));
  }
  return endpoints;
}

absl::StatusOr<uint64_t> EndpointsPublisher::Watch(const std::string& service,
                                                   EndpointsWatcher* watcher) {
  absl::MutexLock lock(&mu_);
  auto it = services_.find(service);
  if (it == services_.end()) {
    return absl::NotFoundError(
        absl::StrCat("service \"", service, "\" not found"));
  }
  const uint64_t id = next_id_++;
  it->second.watchers[id] = watcher;
  watches_[id] = service;
  watcher->OnEndpoints(it->second.current);
  return id;
}

void EndpointsPublisher::Unwatch(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto watch = watches_.find(id);
  if (watch == watches_.end()) return;
  auto service = services_.find(watch->second);
  if (service != services_.end()) service->second.watchers.erase(id);
  watches_.erase(watch);
}

void EndpointsPublisher::OnServiceChanged(const ServiceState& service) {
  auto built = std::make_shared<tether::v1::Endpoints>(BuildEndpoints(service));
  built->set_tls_server_name(tls_server_name_);
  std::shared_ptr<const tether::v1::Endpoints> endpoints = std::move(built);
  absl::MutexLock lock(&mu_);
  Entry& entry = services_[service.record.name()];
  if (entry.current != nullptr &&
      google::protobuf::util::MessageDifferencer::Equals(*entry.current,
                                                         *endpoints)) {
    return;
  }
  entry.current = std::move(endpoints);
  for (const auto& [id, watcher] : entry.watchers) {
    watcher->OnEndpoints(entry.current);
  }
}

void EndpointsPublisher::OnServiceRemoved(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = services_.find(name);
  if (it == services_.end()) return;
  for (const auto& [id, watcher] : it->second.watchers) {
    watcher->OnRemoved();
    watches_.erase(id);
  }
  services_.erase(it);
}

}  // namespace tether::controlplane
