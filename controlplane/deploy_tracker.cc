#include "controlplane/deploy_tracker.h"

#include <utility>

#include "common/proto_time.h"

namespace tether::controlplane {

DeployTracker::DeployTracker(Clock* clock) : clock_(clock) {}

uint64_t DeployTracker::Start(const std::string& service,
                              DeployObserver* observer) {
  Deploy& deploy = deploys_[service];
  deploy.id = next_id_++;
  deploy.observer = observer;
  deploy.requested = observer != nullptr;
  return deploy.id;
}

bool DeployTracker::InProgress(const std::string& service) const {
  return deploys_.count(service) != 0;
}

bool DeployTracker::Requested(const std::string& service) const {
  auto it = deploys_.find(service);
  return it != deploys_.end() && it->second.requested;
}

void DeployTracker::Emit(const std::string& service,
                         tether::v1::DeployEvent::Stage stage,
                         const std::string& replica,
                         const std::string& message) {
  auto it = deploys_.find(service);
  if (it == deploys_.end() || it->second.observer == nullptr) return;
  tether::v1::DeployEvent event;
  event.set_stage(stage);
  event.set_replica(replica);
  event.set_message(message);
  *event.mutable_time() = ToProtoTimestamp(clock_->Now());
  it->second.observer->OnEvent(event);
}

bool DeployTracker::End(const std::string& service,
                        const absl::Status& status) {
  auto it = deploys_.find(service);
  if (it == deploys_.end()) return false;
  DeployObserver* const observer = it->second.observer;
  deploys_.erase(it);
  if (observer != nullptr) observer->OnDone(status);
  return true;
}

void DeployTracker::Detach(uint64_t id) {
  for (auto& [service, deploy] : deploys_) {
    if (deploy.id == id) deploy.observer = nullptr;
  }
}

}  // namespace tether::controlplane
