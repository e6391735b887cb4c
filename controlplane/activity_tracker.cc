#include "controlplane/activity_tracker.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "common/proto_time.h"

namespace tether::controlplane {

ActivityTracker::ActivityTracker(Options options) : options_(options) {}

ActivityTracker::Entry& ActivityTracker::Active(const std::string& service,
                                                absl::Time now) {
  Entry& entry = services_[service];
  if (now > entry.last_activity) {
    entry.last_activity = now;
    changed_ = true;
  }
  return entry;
}

ActivityTracker::Series& ActivityTracker::SeriesOf(Entry& entry,
                                                   const std::string& replica) {
  for (Series& series : entry.series) {
    if (series.replica == replica) return series;
  }
  entry.series.push_back(Series{replica});
  return entry.series.back();
}

void ActivityTracker::ReportCalls(const std::string& service,
                                  const std::string& series_name,
                                  const CallCountPoint& point) {
  absl::MutexLock lock(&mu_);
  Entry& entry = services_[service];
  Series& series = SeriesOf(entry, series_name);
  int64_t new_calls = point.value;
  if (!point.delta) {
    const bool reset =
        point.start != series.start || point.value < series.started;
    // Values come from reports: a jump past int64 counts as "many calls".
    if (!reset &&
        __builtin_sub_overflow(point.value, series.started, &new_calls)) {
      new_calls = std::numeric_limits<int64_t>::max();
    }
    series.started = point.value;
    series.start = point.start;
  }
  if (new_calls > 0) Active(service, options_.clock->Now());
}

void ActivityTracker::ReportInFlight(const std::string& service,
                                     const std::string& replica,
                                     int64_t in_flight) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  Entry& entry = in_flight > 0 ? Active(service, now) : services_[service];
  Series& series = SeriesOf(entry, replica);
  series.in_flight = std::max<int64_t>(in_flight, 0);
  series.in_flight_at = now;
}

void ActivityTracker::ProxiedCallStarted(const std::string& service) {
  absl::MutexLock lock(&mu_);
  ++Active(service, options_.clock->Now()).proxied_in_flight;
}

void ActivityTracker::ProxiedCallFinished(const std::string& service) {
  absl::MutexLock lock(&mu_);
  // The end of a call is activity too: the TTL counts from it.
  Entry& entry = Active(service, options_.clock->Now());
  if (entry.proxied_in_flight > 0) --entry.proxied_in_flight;
}

void ActivityTracker::Touch(const std::string& service) {
  absl::MutexLock lock(&mu_);
  Active(service, options_.clock->Now());
}

void ActivityTracker::TouchIfUnknown(const std::string& service) {
  absl::MutexLock lock(&mu_);
  if (services_.contains(service)) return;
  Active(service, options_.clock->Now());
}

void ActivityTracker::Forget(const std::string& service) {
  absl::MutexLock lock(&mu_);
  if (services_.erase(service) > 0) changed_ = true;
}

int64_t ActivityTracker::InFlightLocked(const Entry& entry,
                                        absl::Time now) const {
  int64_t in_flight = entry.proxied_in_flight;
  for (const Series& series : entry.series) {
    if (now - series.in_flight_at < options_.stale_after) {
      in_flight += series.in_flight;
    }
  }
  return in_flight;
}

absl::Time ActivityTracker::LastActivity(const std::string& service) const {
  absl::MutexLock lock(&mu_);
  auto it = services_.find(service);
  return it == services_.end() ? absl::InfinitePast()
                               : it->second.last_activity;
}

int64_t ActivityTracker::InFlight(const std::string& service) const {
  absl::MutexLock lock(&mu_);
  auto it = services_.find(service);
  if (it == services_.end()) return 0;
  return InFlightLocked(it->second, options_.clock->Now());
}

tether::v1::ServiceActivity ActivityTracker::Get(
    const std::string& service) const {
  tether::v1::ServiceActivity activity;
  absl::MutexLock lock(&mu_);
  auto it = services_.find(service);
  if (it == services_.end()) return activity;
  if (it->second.last_activity != absl::InfinitePast()) {
    *activity.mutable_last_activity() =
        ToProtoTimestamp(it->second.last_activity);
  }
  activity.set_calls_in_flight(
      InFlightLocked(it->second, options_.clock->Now()));
  return activity;
}

tether::v1::ActivityLog ActivityTracker::Snapshot(bool* changed) {
  tether::v1::ActivityLog log;
  absl::MutexLock lock(&mu_);
  for (const auto& [service, entry] : services_) {
    if (entry.last_activity == absl::InfinitePast()) continue;
    (*log.mutable_last_activity())[service] =
        ToProtoTimestamp(entry.last_activity);
  }
  if (changed != nullptr) *changed = changed_;
  changed_ = false;
  return log;
}

void ActivityTracker::Restore(const tether::v1::ActivityLog& log) {
  absl::MutexLock lock(&mu_);
  for (const auto& [service, time] : log.last_activity()) {
    Entry& entry = services_[service];
    entry.last_activity =
        std::max(entry.last_activity, FromProtoTimestamp(time));
  }
}

}  // namespace tether::controlplane
