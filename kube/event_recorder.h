#ifndef TETHER_KUBE_EVENT_RECORDER_H_
#define TETHER_KUBE_EVENT_RECORDER_H_

// Kubernetes Events (core/v1) written by Tether's processes: the injector
// says what it did to a pod, tetherd which opted-in pods run without the
// agent. Like client-go's record.EventRecorder: asynchronous (a caller never
// waits for the API server) and repeats of one Event bump its `count` and
// `lastTimestamp` instead of piling up new objects.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "kube/kube_client.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// An Event's `involvedObject`.
struct ObjectReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string ns;
  /// Empty for an object not stored yet (a pod at admission).
  std::string uid;

  bool operator<(const ObjectReference& other) const;
};

/// What an Event about `pod` in namespace `ns` is attached to, as kubectl
/// describe shows it: the pod's controller (its first ownerReference with
/// `controller: true`, e.g. the ReplicaSet or Job that made it), else the
/// pod itself when it has a name. nullopt for an unowned pod without a
/// name (generateName at admission): there is nothing to attach it to.
std::optional<ObjectReference> EventSubject(const nlohmann::json& pod,
                                            absl::string_view ns);

/// How writing one Event ended, for metrics.
enum class EventOutcome {
  kRecorded,  // Created or updated on the API server.
  kDropped,   // The queue was full.
  kFailed,    // The API server refused or could not be reached.
};

/// Thread-safe. Record never blocks on the network: Events are written one
/// at a time on the recorder's own thread, through the KubeClient (server-
/// side apply, so one call creates or updates).
class EventRecorder final {
 public:
  enum class Type { kNormal, kWarning };

  struct Options {
    /// Not owned; must outlive the recorder. Required.
    KubeClient* client = nullptr;
    /// `source.component` and `reportingComponent`, e.g. "tetherd".
    /// Required.
    std::string component;
    /// `reportingInstance`: this process (its pod name). Empty: none.
    std::string instance;
    /// Events waiting to be written; beyond, new ones are dropped.
    size_t max_pending = 256;
    /// A repeat within this long of the last one updates the same Event
    /// (client-go's aggregation interval); later, a new Event starts.
    absl::Duration aggregation_window = absl::Minutes(10);
    /// Distinct Events remembered for aggregation (client-go's LRU size).
    size_t max_remembered = 4096;
    /// Called on the thread that knows the outcome; must not block.
    std::function<void(EventOutcome)> on_outcome;
    /// Event times. Not owned; never null.
    Clock* clock = Clock::Real();
  };

  /// INVALID_ARGUMENT naming the field without a client, component or
  /// room for one pending Event; starts the writing thread.
  static absl::StatusOr<std::unique_ptr<EventRecorder>> Create(Options options);
  /// Finishes the write in flight; Events still queued are not written.
  ~EventRecorder();

  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  /// Queues an Event about `object` (in its namespace). The same object,
  /// type, reason and message as an Event within the aggregation window
  /// bump that Event's count instead (also while it still waits to be
  /// written: then it is written once). `message` is cut to the API's 1024
  /// bytes.
  void Record(const ObjectReference& object, Type type,
              absl::string_view reason, absl::string_view message);

  /// Blocks until every Event recorded before the call has been written or
  /// has failed. For tests and orderly shutdowns.
  void Flush();

 private:
  explicit EventRecorder(Options options);

  struct Key {
    ObjectReference object;
    Type type;
    std::string reason;
    std::string message;

    bool operator<(const Key& other) const;
  };
  // One Event object on the server, as last recorded.
  struct Aggregate {
    std::string name;
    int64_t count = 0;
    absl::Time first;
    absl::Time last;
    // Waiting in pending_: a repeat needs no queue entry of its own.
    bool queued = false;
  };

  void Run();
  nlohmann::json EventObject(const Key& key, const Aggregate& aggregate) const;
  void Report(EventOutcome outcome) const;
  // Makes room in seen_ for one more, forgetting the least recent Event.
  void Forget() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  absl::Mutex mu_;
  std::map<Key, Aggregate> seen_ ABSL_GUARDED_BY(mu_);
  std::deque<Key> pending_ ABSL_GUARDED_BY(mu_);
  // Events taken from pending_ whose write has not ended.
  int writing_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Unix nanoseconds in the last Event name given out.
  int64_t last_stamp_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // Last: starts once the members above exist.
};

}  // namespace tether::kube

#endif  // TETHER_KUBE_EVENT_RECORDER_H_
