#include "controlplane/ttl_controller.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "controlplane/activator.h"
#include "controlplane/activity_tracker.h"
#include "controlplane/service_registry.h"
#include "controlplane/service_store.h"
#include "servicespec/validate.h"

namespace tether::controlplane {

absl::StatusOr<std::unique_ptr<TtlController>> TtlController::Create(
    Options options) {
  if (options.activity == nullptr || options.activator == nullptr ||
      options.store == nullptr || !options.scale_to_zero || !options.remove) {
    return absl::InvalidArgumentError(
        "TtlController needs activity, an activator, a store, scale_to_zero "
        "and remove");
  }
  ASSIGN_OR_RETURN(const tether::v1::ActivityLog log,
                   options.store->LoadActivity());
  options.activity->Restore(log);
  return std::unique_ptr<TtlController>(new TtlController(std::move(options)));
}

TtlController::TtlController(Options options)
    : options_(std::move(options)), thread_([this] { Loop(); }) {}

TtlController::~TtlController() { Shutdown(); }

void TtlController::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  thread_.join();
  Persist();
}

void TtlController::OnServiceChanged(const ServiceState& service) {
  const std::string& name = service.record.name();
  std::optional<absl::Duration> ttl =
      servicespec::InactivityTtl(service.record.spec().compute());
  absl::MutexLock lock(&mu_);
  auto it = services_.find(name);
  if (!ttl.has_value()) {
    // Only services with a TTL are kept: idle services stay cheap.
    if (it != services_.end()) services_.erase(it);
    return;
  }
  const bool parked = RunningReplicas(service.record) == 0;
  if (it == services_.end()) {
    // A service never called counts from its deploy; one restored from
    // the activity log keeps its history.
    options_.activity->TouchIfUnknown(name);
    it = services_.emplace(name, Entry()).first;
  } else if (service.record.generation() != it->second.generation ||
             (it->second.parked && !parked)) {
    // Deployed again, or woken or scaled up by hand: the TTL starts over.
    options_.activity->Touch(name);
  }
  Entry& entry = it->second;
  entry.ttl = ttl;
  entry.action = service.record.spec().compute().ttl_action();
  entry.parked = parked;
  entry.generation = service.record.generation();
}

void TtlController::OnServiceRemoved(const std::string& name) {
  {
    absl::MutexLock lock(&mu_);
    services_.erase(name);
  }
  options_.activity->Forget(name);
}

tether::v1::ServiceActivity TtlController::ActivityOf(
    const std::string& service) const {
  tether::v1::ServiceActivity activity = options_.activity->Get(service);
  absl::MutexLock lock(&mu_);
  auto it = services_.find(service);
  if (it != services_.end() && !it->second.parked &&
      activity.has_last_activity()) {
    *activity.mutable_idle_action_at() = ToProtoTimestamp(
        FromProtoTimestamp(activity.last_activity()) + *it->second.ttl);
  }
  return activity;
}

void TtlController::CheckNow() {
  std::vector<std::pair<std::string, Entry>> due;
  const absl::Time now = options_.clock->Now();
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, entry] : services_) {
      if (entry.parked || entry.acting) continue;
      if (now - options_.activity->LastActivity(name) < *entry.ttl) continue;
      if (options_.activity->InFlight(name) > 0) continue;
      entry.acting = true;
      due.emplace_back(name, entry);
    }
  }
  // Outside the lock: acting changes the service, which calls back here.
  for (const auto& [name, entry] : due) Act(name, entry);
}

void TtlController::Act(const std::string& service, const Entry& entry) {
  const bool remove = entry.action == tether::v1::TTL_ACTION_DELETE;
  const std::string why = absl::StrCat(
      "no calls for ", absl::FormatDuration(*entry.ttl), " (inactivity_ttl)");
  const absl::Status acted = options_.activator->StopIfIdle(service, [&] {
    return remove ? options_.remove(service)
                  : options_.scale_to_zero(service, why);
  });
  if (acted.ok()) {
    TETHER_LOG(INFO) << "service " << service << ": " << why << ", "
                     << (remove ? "deleting it" : "scaled to zero");
    if (options_.on_action) {
      options_.on_action(remove ? "delete" : "scale_to_zero");
    }
  } else {
    TETHER_LOG(INFO) << "service " << service << " stays: " << acted;
  }
  absl::MutexLock lock(&mu_);
  auto it = services_.find(service);
  // A delete holds `acting` until the service is gone.
  if (it != services_.end() && (!remove || !acted.ok())) {
    it->second.acting = false;
  }
}

void TtlController::Persist() {
  bool changed = false;
  const tether::v1::ActivityLog log = options_.activity->Snapshot(&changed);
  if (!changed && !persist_failed_) return;
  const absl::Status stored = options_.store->PutActivity(log);
  persist_failed_ = !stored.ok();
  if (persist_failed_) {
    TETHER_LOG(ERROR) << "cannot persist last activity: " << stored;
  }
}

void TtlController::Loop() {
  absl::Time next_check = options_.clock->Now() + options_.check_interval;
  absl::Time next_persist = options_.clock->Now() + options_.persist_interval;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      options_.clock->AwaitWithDeadline(&mu_, absl::Condition(&stopping_),
                                        std::min(next_check, next_persist));
      if (stopping_) return;
    }
    const absl::Time now = options_.clock->Now();
    if (now >= next_check) {
      CheckNow();
      next_check = now + options_.check_interval;
    }
    if (now >= next_persist) {
      Persist();
      next_persist = now + options_.persist_interval;
    }
  }
}

}  // namespace tether::controlplane
