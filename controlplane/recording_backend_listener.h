#ifndef TETHER_CONTROLPLANE_RECORDING_BACKEND_LISTENER_H_
#define TETHER_CONTROLPLANE_RECORDING_BACKEND_LISTENER_H_

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controlplane/backend.h"

namespace tether::controlplane {

/// BackendListener for backend tests: records every event as one line,
/// "started R", "exited R restart|gone CAUSE: DESCRIPTION", "pending R
/// MESSAGE", "failing R PROBLEM", and lets the test wait for one. Thread-safe.
class RecordingBackendListener final : public BackendListener {
 public:
  void OnReplicaStarted(const std::string& service,
                        const std::string& replica) override {
    Record(absl::StrCat("started ", replica));
  }
  void OnReplicaExited(const std::string& service, const std::string& replica,
                       const ReplicaExit& exit) override {
    Record(absl::StrCat(
        "exited ", replica, " ", exit.will_restart ? "restart " : "gone ",
        ReplicaExit::CauseName(exit.cause), ": ", exit.description));
  }
  void OnReplicaPending(const std::string& service, const std::string& replica,
                        const std::string& message) override {
    Record(absl::StrCat("pending ", replica, " ", message));
  }
  void OnReplicaFailing(const std::string& service, const std::string& replica,
                        const std::string& problem) override {
    Record(absl::StrCat("failing ", replica, " ", problem));
  }

  /// Waits (bounded by `timeout`) until an event starting with `prefix`
  /// arrived; false if none did.
  bool Await(const std::string& prefix,
             absl::Duration timeout = absl::Seconds(20)) {
    return AwaitCount(prefix, 1, timeout);
  }
  /// Waits (bounded by `timeout`) until `count` events starting with
  /// `prefix` arrived; false if they did not.
  bool AwaitCount(const std::string& prefix, int count,
                  absl::Duration timeout = absl::Seconds(20)) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return CountLocked(prefix) >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
  }
  int Count(const std::string& prefix) {
    absl::MutexLock lock(&mu_);
    return CountLocked(prefix);
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  void Record(std::string event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }
  int CountLocked(const std::string& prefix)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int n = 0;
    for (const auto& e : events_) n += absl::StartsWith(e, prefix);
    return n;
  }

  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_RECORDING_BACKEND_LISTENER_H_
