#include "controlplane/activator.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "controlplane/activity_tracker.h"
#include "controlplane/call_router.h"
#include "controlplane/routes.h"
#include "controlplane/service_registry.h"
#include "servicespec/validate.h"

namespace tether::controlplane {

using tether::v1::CallRequest;
using tether::v1::CallResponse;
using tether::v1::ServiceStatus;

Activator::Activator(Options options)
    : options_(std::move(options)), thread_([this] { Loop(); }) {}

Activator::~Activator() { Shutdown(); }

void Activator::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Activator::Call(const CallRequest& request, CallResponse* response,
                     absl::Time deadline, CallDone done) {
  // Both continuations may need it; exactly one runs.
  auto shared_done = std::make_shared<CallDone>(std::move(done));
  Admit(
      request.service(), deadline,
      [this, &request, response, deadline,
       shared_done](std::optional<absl::Duration> woke_after) {
        options_.router->Call(request, response, deadline,
                              [this, service = request.service(), woke_after,
                               shared_done](absl::Status status) {
                                CallEnded(service);
                                (*shared_done)(std::move(status), woke_after);
                              });
      },
      [shared_done](absl::Status status) {
        (*shared_done)(std::move(status), std::nullopt);
      });
}

void Activator::Admit(const std::string& service, absl::Time deadline,
                      Proceed proceed, Refuse refuse) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    auto it = services_.find(service);
    if (it != services_.end() && (it->second.parked || it->second.waking)) {
      Entry& entry = it->second;
      if (stopping_) {
        refused = absl::UnavailableError("tetherd is shutting down");
      } else if (static_cast<int>(entry.waiters.size()) <
                 options_.max_waiting_per_service) {
        const absl::Time now = options_.clock->Now();
        // Counted from now: a waiting call keeps its service from being
        // parked again.
        options_.activity->ProxiedCallStarted(service);
        entry.waiters.push_back(Waiter{
            service, deadline, std::min(deadline, now + entry.launch_timeout),
            now, std::move(proceed), std::move(refuse)});
        waiting_.insert(service);
        rescan_ = true;
        if (!entry.waking) {
          entry.waking = true;
          entry.wake_started = now;
        }
        RequestWake(service, entry);
        return;
      } else {
        refused = absl::ResourceExhaustedError(absl::StrCat(
            "service ", service, " is waking up and already holds ",
            options_.max_waiting_per_service, " waiting calls"));
      }
    }
  }
  if (!refused.ok()) {
    refuse(std::move(refused));
    return;
  }
  options_.activity->ProxiedCallStarted(service);
  proceed(std::nullopt);
}

void Activator::CallEnded(const std::string& service) {
  options_.activity->ProxiedCallFinished(service);
}

void Activator::RequestWake(const std::string& name, Entry& entry) {
  // While a stop runs, the wake-up waits for it: woken first, the service
  // would be stopped under the released calls.
  if (entry.wake_sent || entry.stopping) return;
  entry.wake_sent = true;
  work_.push_back([this, name] {
    TETHER_LOG(INFO) << "waking service " << name << " for a call";
    const absl::Status woken = options_.wake(name);
    if (woken.ok()) return;
    absl::MutexLock lock(&mu_);
    auto it = services_.find(name);
    if (it != services_.end()) EndWake(it->second, name, woken);
  });
}

absl::Status Activator::StopIfIdle(const std::string& service,
                                   const std::function<absl::Status()>& stop) {
  {
    absl::MutexLock lock(&mu_);
    // Checked and marked under the lock Call takes, so no call slips in
    // between: the ones before count in flight, the ones after wait.
    const int64_t in_flight = options_.activity->InFlight(service);
    if (in_flight > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "service ", service, " has ", in_flight, " call(s) in flight"));
    }
    Entry& entry = services_[service];
    entry.parked = true;
    entry.stopping = true;
    entry.wake_sent = false;
  }
  absl::Status stopped = stop();
  absl::MutexLock lock(&mu_);
  auto it = services_.find(service);
  if (it != services_.end()) {
    it->second.stopping = false;
    if (it->second.waking) RequestWake(service, it->second);
  }
  return stopped;
}

void Activator::EndWake(Entry& entry, const std::string& service,
                        const absl::Status& status) {
  const absl::Time now = options_.clock->Now();
  if (entry.waking && options_.on_wake_ended) {
    work_.push_back([this, ok = status.ok(), took = now - entry.wake_started] {
      options_.on_wake_ended(ok, took);
    });
  }
  if (entry.waking) {
    TETHER_LOG(INFO) << "service " << service
                     << (status.ok() ? " woke up in " : " did not wake up in ")
                     << (now - entry.wake_started) << (status.ok() ? "" : ": ")
                     << status.message();
  }
  entry.waking = false;
  for (Waiter& waiter : entry.waiters) {
    if (status.ok()) {
      // Counted in flight since it arrived, until its CallEnded.
      work_.push_back([waiter = std::move(waiter), now]() mutable {
        waiter.proceed(now - waiter.arrived);
      });
    } else {
      work_.push_back([this, waiter = std::move(waiter), status]() mutable {
        CallEnded(waiter.service);
        waiter.refuse(status);
      });
    }
  }
  entry.waiters.clear();
  waiting_.erase(service);
}

void Activator::OnServiceChanged(const ServiceState& service) {
  const std::string& name = service.record.name();
  bool routable = false;
  for (const auto& [replica_name, replica] : service.replicas) {
    routable |= IsRoutable(replica);
  }
  absl::MutexLock lock(&mu_);
  Entry& entry = services_[name];
  const bool parked = RunningReplicas(service.record) == 0;
  // Each time the service is parked it needs a wake-up of its own.
  if (parked && !entry.parked) entry.wake_sent = false;
  entry.parked = parked;
  entry.launch_timeout =
      servicespec::LaunchTimeout(service.record.spec().compute());
  if (!entry.waking) return;
  if (parked) {
    RequestWake(name, entry);
    return;
  }
  if (routable) {
    EndWake(entry, name, absl::OkStatus());
  } else if (service.record.phase() == ServiceStatus::PHASE_FAILED) {
    EndWake(entry, name,
            absl::UnavailableError(absl::StrCat(
                "service ", name,
                " could not wake up: ", service.record.message())));
  }
}

void Activator::OnServiceRemoved(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = services_.find(name);
  if (it == services_.end()) return;
  EndWake(
      it->second, name,
      absl::NotFoundError(absl::StrCat("service \"", name, "\" was deleted")));
  services_.erase(it);
}

absl::Time Activator::ExpireWaiters(absl::Time now) {
  absl::Time earliest = absl::InfiniteFuture();
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    const std::string& name = *it;
    Entry& entry = services_[name];
    std::vector<Waiter> kept;
    for (Waiter& waiter : entry.waiters) {
      if (waiter.give_up > now) {
        earliest = std::min(earliest, waiter.give_up);
        kept.push_back(std::move(waiter));
        continue;
      }
      const absl::Status status =
          waiter.give_up < waiter.deadline
              ? absl::UnavailableError(absl::StrCat(
                    "service ", name,
                    " did not become ready within its "
                    "launch_timeout (",
                    absl::FormatDuration(entry.launch_timeout), ")"))
              : absl::DeadlineExceededError(
                    absl::StrCat("deadline exceeded while service ", name,
                                 " was waking up"));
      work_.push_back([this, waiter = std::move(waiter), status]() mutable {
        CallEnded(waiter.service);
        waiter.refuse(status);
      });
    }
    entry.waiters = std::move(kept);
    if (entry.waiters.empty()) {
      waiting_.erase(it++);
    } else {
      ++it;
    }
  }
  return earliest;
}

void Activator::Loop() {
  absl::Time next = absl::InfiniteFuture();
  while (true) {
    std::vector<std::function<void()>> work;
    {
      absl::MutexLock lock(&mu_);
      auto has_news = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || rescan_ || !work_.empty();
      };
      options_.clock->AwaitWithDeadline(&mu_, absl::Condition(&has_news), next);
      rescan_ = false;
      if (stopping_) {
        for (auto& [name, entry] : services_) {
          EndWake(entry, name,
                  absl::UnavailableError("tetherd is shutting down"));
        }
      } else {
        next = ExpireWaiters(options_.clock->Now());
      }
      work.swap(work_);
    }
    for (std::function<void()>& task : work) task();
    absl::MutexLock lock(&mu_);
    if (stopping_ && work_.empty()) return;
  }
}

}  // namespace tether::controlplane
