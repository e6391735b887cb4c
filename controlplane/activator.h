#ifndef TETHER_CONTROLPLANE_ACTIVATOR_H_
#define TETHER_CONTROLPLANE_ACTIVATOR_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "controlplane/service_listener.h"
#include "tether/v1/control_plane.pb.h"

namespace tether::controlplane {

class ActivityTracker;
class CallRouter;

/// The front door of the calls tetherd proxies. It counts them as activity,
/// stops idle services without cutting a call short, and wakes a parked
/// service for the calls that reach it: one wake-up for every caller, who
/// waits in a bounded per-service queue and is released as soon as a
/// replica is routable (the agents' Attach stream pushes that; nothing is
/// polled). When the replicas cannot come up (the service turns FAILED: an
/// image that cannot be pulled, no node, a crash loop) the waiting calls
/// fail at once with that reason; otherwise each waits until its own
/// deadline or the service's `compute.launch_timeout`, whichever is first.
/// Thread-safe; one thread of its own releases and expires waiting calls.
class Activator final : public ServiceListener {
 public:
  /// How a call ended: `woke_after` is set when the call waited for a
  /// wake-up, to how long it waited.
  using CallDone =
      std::function<void(absl::Status, std::optional<absl::Duration>)>;

  struct Options {
    /// Where calls go once a replica is routable. Required.
    CallRouter* router = nullptr;
    /// Hears proxied calls start and finish. Required.
    ActivityTracker* activity = nullptr;
    /// Wakes `service` (ServiceManager::Scale with nullopt). Required.
    std::function<absl::Status(const std::string& service)> wake;
    /// Told how each wake-up ended, for metrics. May be null.
    std::function<void(bool ok, absl::Duration took)> on_wake_ended;
    /// Calls one service may hold waiting; more fail RESOURCE_EXHAUSTED.
    int max_waiting_per_service = 1000;
    /// Deadlines of waiting calls. Never null.
    Clock* clock = Clock::Real();
  };

  explicit Activator(Options options);
  /// Shutdown.
  ~Activator() override;

  /// Fails the calls still waiting, and every later one that would wait,
  /// with UNAVAILABLE; stops the thread. Idempotent.
  void Shutdown();

  /// Runs `request` through the router and calls `done` exactly once, from
  /// any thread; `request` and `response` must outlive `done`. A call to a
  /// parked service wakes it and waits as described above.
  void Call(const tether::v1::CallRequest& request,
            tether::v1::CallResponse* response, absl::Time deadline,
            CallDone done);

  /// Runs once a replica may take the call, with how long it waited for a
  /// wake-up (nullopt: it did not wait).
  using Proceed = std::function<void(std::optional<absl::Duration>)>;
  /// Runs instead when the call may not go on (queue full, wake-up failed,
  /// deadline or launch_timeout passed, shutting down).
  using Refuse = std::function<void(absl::Status)>;

  /// Admits one proxied call to `service` (what Call does before routing,
  /// for callers that route it themselves, e.g. streams): exactly one of
  /// `proceed` and `refuse` runs, from any thread, at once for a warm
  /// service. An admitted call counts in flight until CallEnded(service).
  void Admit(const std::string& service, absl::Time deadline, Proceed proceed,
             Refuse refuse);
  /// An admitted call to `service` ended.
  void CallEnded(const std::string& service);

  /// Runs `stop` (scale to zero, delete) unless a proxied call to `service`
  /// is in flight (FAILED_PRECONDITION then). Calls that arrive from now on
  /// wait for a wake-up instead of reaching replicas that are stopping.
  absl::Status StopIfIdle(const std::string& service,
                          const std::function<absl::Status()>& stop);

  void OnServiceChanged(const ServiceState& service) override;
  void OnServiceRemoved(const std::string& name) override;

 private:
  struct Waiter {
    std::string service;
    absl::Time deadline;
    // The earlier of `deadline` and the launch timeout.
    absl::Time give_up;
    absl::Time arrived;
    Proceed proceed;
    Refuse refuse;
  };
  struct Entry {
    // The service runs no replica (parked, or being stopped).
    bool parked = false;
    // StopIfIdle is stopping it.
    bool stopping = false;
    // Calls wait for a wake-up that has not ended yet.
    bool waking = false;
    // The wake-up of the current park was asked of the ServiceManager.
    bool wake_sent = false;
    absl::Time wake_started;
    absl::Duration launch_timeout;
    std::vector<Waiter> waiters;
  };

  // Asks the loop to wake `name`, once per park, and not while it stops.
  void RequestWake(const std::string& name, Entry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands every waiter of `entry` to the loop: released to the router when
  // `status` is OK, failed with it otherwise.
  void EndWake(Entry& entry, const std::string& service,
               const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Loop();
  // Moves the waiters whose time is up into work_; returns the earliest
  // time a remaining waiter gives up.
  absl::Time ExpireWaiters(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> services_ ABSL_GUARDED_BY(mu_);
  // Services with waiters, so expiry does not scan every service.
  absl::flat_hash_set<std::string> waiting_ ABSL_GUARDED_BY(mu_);
  // What the loop runs next, outside the lock: releases and failures.
  std::vector<std::function<void()>> work_ ABSL_GUARDED_BY(mu_);
  // A new waiter may give up before the loop's current deadline.
  bool rescan_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: starts once the members above exist.
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_ACTIVATOR_H_
