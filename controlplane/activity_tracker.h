#ifndef TETHER_CONTROLPLANE_ACTIVITY_TRACKER_H_
#define TETHER_CONTROLPLANE_ACTIVITY_TRACKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "tether/v1/control_plane.pb.h"

namespace tether::controlplane {

/// One point of a calls counter (started or finished), as an OTLP Sum
/// carries it.
struct CallCountPoint {
  int64_t value = 0;
  /// Cumulative: when the series began counting; a change means the
  /// counter was reset (the agent restarted).
  absl::Time start;
  /// Delta: `value` counts calls since the previous point, not since
  /// `start`.
  bool delta = false;
};

/// What tetherd knows of each service's calls: from the agents' activity
/// reports (one series per replica) and the calls tetherd proxies itself.
/// Activity is stamped with tetherd's clock when it is heard, so agents'
/// clocks do not matter. Keeps a few words per service, so idle services
/// are cheap. Thread-safe.
class ActivityTracker {
 public:
  struct Options {
    /// Stamps activity. Never null.
    Clock* clock = Clock::Real();
    /// A replica's in-flight count stops counting once its last report is
    /// this old: an agent killed mid-call must not keep its service awake
    /// for ever. Agents report every few seconds while calls run.
    absl::Duration stale_after = absl::Minutes(1);
  };

  explicit ActivityTracker(Options options);

  /// A point of a calls counter of `series` (one per replica and
  /// counter). Calls counted since the previous point (a cumulative value
  /// that grew, or fell or changed its start: a reset, so all of it is new;
  /// a delta above zero) are activity now.
  void ReportCalls(const std::string& service, const std::string& series,
                   const CallCountPoint& point);
  /// `replica`'s calls in flight; any is activity now.
  void ReportInFlight(const std::string& service, const std::string& replica,
                      int64_t in_flight);
  /// A call tetherd proxies to `service` started (it counts as in flight
  /// until ProxiedCallFinished) or finished.
  void ProxiedCallStarted(const std::string& service);
  void ProxiedCallFinished(const std::string& service);

  /// The inactivity clock of `service` starts now (it was deployed).
  void Touch(const std::string& service);
  /// Like Touch, unless `service` has activity already (restored).
  void TouchIfUnknown(const std::string& service);
  void Forget(const std::string& service);

  /// When `service` was last active; InfinitePast when unknown.
  absl::Time LastActivity(const std::string& service) const;
  /// Calls in flight now: proxied ones plus fresh agent reports.
  int64_t InFlight(const std::string& service) const;
  /// Both, for users (idle_action_at is the TTL controller's to fill).
  tether::v1::ServiceActivity Get(const std::string& service) const;

  /// Last activity of every service, for persisting; `changed` says
  /// whether any changed since the previous Snapshot.
  tether::v1::ActivityLog Snapshot(bool* changed);
  /// Takes last activity from a log persisted before a restart.
  void Restore(const tether::v1::ActivityLog& log);

 private:
  struct Series {
    std::string replica;
    int64_t started = 0;
    absl::Time start;
    int64_t in_flight = 0;
    absl::Time in_flight_at;
  };
  struct Entry {
    absl::Time last_activity = absl::InfinitePast();
    int64_t proxied_in_flight = 0;
    // Usually one per replica; a vector is smaller than a map.
    std::vector<Series> series;
  };

  Entry& Active(const std::string& service, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static Series& SeriesOf(Entry& entry, const std::string& replica);
  int64_t InFlightLocked(const Entry& entry, absl::Time now) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> services_ ABSL_GUARDED_BY(mu_);
  // Some last_activity changed since the previous Snapshot.
  bool changed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_ACTIVITY_TRACKER_H_
