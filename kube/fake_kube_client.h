#ifndef TETHER_KUBE_FAKE_KUBE_CLIENT_H_
#define TETHER_KUBE_FAKE_KUBE_CLIENT_H_

// An in-memory KubeClient for unit tests of code that talks to the API
// server. It keeps the semantics callers rely on, matching
// tests/fake_kube_apiserver (see its README):
// - one global resourceVersion (a decimal string) bumped by every write;
//   writes that change nothing do not bump it;
// - the server sets metadata.uid, creationTimestamp, namespace,
//   resourceVersion and, for apps/v1, autoscaling and policy kinds,
//   generation (1 on create, +1 on every spec change);
// - Apply upserts with a JSON merge patch (maps merge, null deletes, lists
//   are replaced); a stale metadata.resourceVersion is a conflict; writes to
//   the main resource never change .status of kinds with a status
//   subresource; Deployments and StatefulSets default spec.replicas to 1;
// - Watch replays a bounded history: events after `resource_version`, in
//   order, filtered by namespace and label selector (on the new object's
//   labels, like the fake server), then blocks for new ones.
// - PodLogs answers as the API server and kubelet do (kube/fake_pod_logs.h)
//   from the logs a test keeps with SetPodLog.
// Test hooks below stand in for controllers (SetStatus), the kubelet's logs
// (SetPodLog), etcd compaction (Compact), a server ending watches
// (EndWatches, Bookmark) and failures (FailNext), so the test decides when
// things happen.

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "kube/kube_client.h"
#include "kube/pod_log.h"
#include "kube/resource_type.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// Thread-safe: every method may be called from any thread; Watch calls
/// `on_event` without holding the lock, so it may call back into the fake.
class FakeKubeClient final : public KubeClient {
 public:
  /// The verbs FailNext and CallCount distinguish; kScale is GetScale and
  /// SetScale, kLogs PodLogs.
  enum class Verb { kApply, kGet, kList, kWatch, kDelete, kScale, kLogs };

  /// `history_size` bounds the watch history, like the API server's watch
  /// cache: watching from a version older than what it holds is OUT_OF_RANGE.
  explicit FakeKubeClient(size_t history_size = 1000);

  absl::StatusOr<nlohmann::json> Apply(const nlohmann::json& object) override;
  absl::StatusOr<nlohmann::json> Get(const ResourceType& type,
                                     absl::string_view ns,
                                     absl::string_view name) override;
  absl::StatusOr<ObjectList> List(const ResourceType& type,
                                  absl::string_view ns,
                                  absl::string_view label_selector) override;
  /// Polls `options.stop` about every 50 ms.
  absl::Status Watch(
      const ResourceType& type, absl::string_view ns,
      const WatchOptions& options,
      const std::function<bool(const WatchEvent&)>& on_event) override;
  absl::Status Delete(
      const ResourceType& type, absl::string_view ns, absl::string_view name,
      Propagation propagation = Propagation::kBackground) override;
  /// NOT_FOUND for types without a scale subresource, as the server's 404.
  absl::StatusOr<int32_t> GetScale(const ResourceType& type,
                                   absl::string_view ns,
                                   absl::string_view name) override;
  absl::Status SetScale(const ResourceType& type, absl::string_view ns,
                        absl::string_view name, int32_t replicas) override;
  absl::StatusOr<std::string> PodLogs(absl::string_view ns,
                                      absl::string_view name,
                                      const PodLogOptions& options) override;
  /// Known kinds, else the plural custom resources use by convention (the
  /// kind in lower case, plus "s").
  absl::StatusOr<ResourceType> Discover(absl::string_view api_version,
                                        absl::string_view kind) override;
  void Shutdown() override;

  // Test hooks.

  /// Replaces the object's .status (MODIFIED event), as kubelet or a
  /// controller would. NOT_FOUND when absent.
  absl::Status SetStatus(const ResourceType& type, absl::string_view ns,
                         absl::string_view name, const nlohmann::json& status);
  /// Keeps `log` ("<RFC 3339 time> <text>" lines, as the kubelet stores
  /// them; kube::FormatLogTime makes the times) as what `instance` of
  /// `container` in pod `ns/name` printed, for PodLogs. Which instance a read
  /// gets follows the pod's status (SetStatus), as on a kubelet.
  void SetPodLog(absl::string_view ns, absl::string_view name,
                 absl::string_view container, std::string log,
                 LogInstance instance = LogInstance::kCurrent);
  /// Drops the watch history: watches from any older version, including
  /// open ones that have not caught up, get OUT_OF_RANGE.
  void Compact();
  /// The next `count` calls of `verb` fail with `status` (not OK), after
  /// queued failures of that verb.
  void FailNext(Verb verb, absl::Status status, int count = 1);
  /// `verb` is "apply", "get", "list", "watch", "delete", "scale" or
  /// "logs"; any other name is a bug in the test and crashes.
  void FailNext(absl::string_view verb, absl::Status status, int count = 1);
  /// Ends every open Watch with OK, like the server's watch timeout, once it
  /// has delivered the events (and bookmark) already due to it.
  void EndWatches();
  /// Sends a BOOKMARK at the current version to every open Watch that
  /// allows bookmarks, like the server on a quiet stream.
  void Bookmark();
  /// The stored objects of `type` in `ns`, by name.
  std::vector<nlohmann::json> Objects(const ResourceType& type,
                                      absl::string_view ns) const;
  /// The current global resourceVersion.
  std::string ResourceVersion() const;
  /// Calls of `verb` so far, failed ones included.
  int CallCount(Verb verb) const;
  int ApplyCount() const { return CallCount(Verb::kApply); }
  int GetCount() const { return CallCount(Verb::kGet); }
  int ListCount() const { return CallCount(Verb::kList); }
  int WatchCount() const { return CallCount(Verb::kWatch); }
  int DeleteCount() const { return CallCount(Verb::kDelete); }
  int ScaleCount() const { return CallCount(Verb::kScale); }
  int LogsCount() const { return CallCount(Verb::kLogs); }

 private:
  static constexpr size_t kNumVerbs = 7;

  struct Event {
    int64_t rv;
    WatchEvent::Type type;
    std::string key;  // Key() of the object.
    nlohmann::json object;
  };
  struct Failure {
    Verb verb;
    absl::Status status;
    int remaining;
  };

  // Counts the call, then returns CANCELLED after Shutdown or the next
  // failure queued for `verb`, else OK.
  absl::Status BeginCall(Verb verb) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stamps server-set metadata, stores `object` under `key`, bumps the
  // version and records the event. `old` is the stored object or null.
  nlohmann::json Commit(const ResourceType& type, const std::string& key,
                        nlohmann::json object, const nlohmann::json* old)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Record(WatchEvent::Type type, const std::string& key,
              const nlohmann::json& object) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The stored object or NOT_FOUND with the server's message.
  absl::StatusOr<nlohmann::json*> Find(const ResourceType& type,
                                       absl::string_view ns,
                                       absl::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t history_size_;
  mutable absl::Mutex mu_;
  // Signalled on every event, EndWatches, Bookmark and Shutdown.
  absl::CondVar changed_;
  int64_t rv_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t uid_counter_ ABSL_GUARDED_BY(mu_) = 0;
  // Watches from a version below this are OUT_OF_RANGE.
  int64_t oldest_rv_ ABSL_GUARDED_BY(mu_) = 0;
  // Open watches remember these and act when they change.
  int64_t end_watches_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t bookmark_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // Keyed by "plural/namespace/name", so a collection is a key prefix.
  std::map<std::string, nlohmann::json> objects_ ABSL_GUARDED_BY(mu_);
  std::deque<Event> history_ ABSL_GUARDED_BY(mu_);
  // SetPodLog's logs, by "namespace/pod/container/instance".
  std::map<std::string, std::string> pod_logs_ ABSL_GUARDED_BY(mu_);
  std::deque<Failure> failures_ ABSL_GUARDED_BY(mu_);
  std::array<int, kNumVerbs> calls_ ABSL_GUARDED_BY(mu_) = {};
};

}  // namespace tether::kube

#endif  // TETHER_KUBE_FAKE_KUBE_CLIENT_H_
