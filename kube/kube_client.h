#ifndef TETHER_KUBE_KUBE_CLIENT_H_
#define TETHER_KUBE_KUBE_CLIENT_H_

// The seam between Tether and the Kubernetes API server: the few REST verbs
// tetherd uses, on JSON objects. kube_client_http.h talks to a real API
// server; fake_kube_client.h keeps objects in memory for unit tests.
//
// Errors carry the API server's Status message and map its HTTP codes:
//   400 BadRequest, 415, 422 Invalid  -> INVALID_ARGUMENT
//   401 -> UNAUTHENTICATED            403 -> PERMISSION_DENIED
//   404 -> NOT_FOUND
//   409 AlreadyExists -> ALREADY_EXISTS, 409 Conflict -> ABORTED
//   410 Gone/Expired (resourceVersion too old) -> OUT_OF_RANGE
//   429 (after retries) -> RESOURCE_EXHAUSTED
//   5xx, connection errors (after retries) -> UNAVAILABLE
//   a request timeout -> DEADLINE_EXCEEDED; after Shutdown -> CANCELLED

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "kube/resource_type.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// The field manager of every server-side apply Tether makes.
inline constexpr char kFieldManager[] = "tether";

/// A LIST answer: the items (without kind/apiVersion, as the API server
/// sends them) and the collection's resourceVersion to watch from.
struct ObjectList {
  std::vector<nlohmann::json> items;
  std::string resource_version;
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark };
  Type type = Type::kAdded;
  /// The object after the change (for kDeleted: its last state; for
  /// kBookmark: only metadata.resourceVersion).
  nlohmann::json object;
};

struct WatchOptions {
  /// Label selector, e.g. "app.kubernetes.io/managed-by=tether". Empty: all.
  std::string label_selector;
  /// Stream changes after this version (normally the version of a LIST).
  /// Empty: the server first sends every current object as kAdded.
  std::string resource_version;
  /// The server ends the stream after this long; watch again from the last
  /// version seen. Keeps dead connections from hanging a watcher forever.
  absl::Duration timeout = absl::Minutes(5);
  /// Ask for BOOKMARK events, which advance the version on quiet streams.
  bool allow_bookmarks = true;
  /// When notified, the watch ends with CANCELLED within about a second,
  /// even on a quiet stream. Null: only Shutdown or the server ends it.
  absl::Notification* stop = nullptr;
};

enum class Propagation { kBackground, kForeground, kOrphan };

/// The query of a pod log read (core/v1 PodLogOptions; `follow` is not
/// offered: tetherd reads a log once).
struct PodLogOptions {
  /// Empty: the pod's only container.
  std::string container;
  /// Only lines stamped at or after this time. The API takes whole seconds
  /// (sent rounded down), so a few lines from just before may come too.
  /// InfinitePast: from the start.
  absl::Time since_time = absl::InfinitePast();
  /// Each line starts with its time (RFC 3339, to the nanosecond) and a
  /// space, as kube/pod_log.h reads them.
  bool timestamps = false;
  /// Only the last this many lines (before `since_time` filters them, as
  /// the kubelet does); negative: all.
  int64_t tail_lines = -1;
  /// The server stops after about this many bytes, timestamps included, so
  /// the last line may be cut short; 0: no limit.
  int64_t limit_bytes = 0;
  /// The container's last terminated instance instead of the current one.
  bool previous = false;
};

/// Thread-safe: calls may run concurrently from many threads.
class KubeClient {
 public:
  virtual ~KubeClient() = default;

  /// Server-side apply (`application/apply-patch+yaml`, field manager
  /// kFieldManager, force): creates `object` or makes the fields Tether
  /// manages equal to it. `object` needs apiVersion, kind (a ResourceType
  /// constant), metadata.name and metadata.namespace. Returns the object as
  /// stored.
  virtual absl::StatusOr<nlohmann::json> Apply(
      const nlohmann::json& object) = 0;

  virtual absl::StatusOr<nlohmann::json> Get(const ResourceType& type,
                                             absl::string_view ns,
                                             absl::string_view name) = 0;

  /// Every object of `type` in `ns` matching `label_selector` (empty: all),
  /// following `continue` pages.
  virtual absl::StatusOr<ObjectList> List(const ResourceType& type,
                                          absl::string_view ns,
                                          absl::string_view label_selector) = 0;

  /// Blocks, passing each change to objects of `type` in `ns` to `on_event`
  /// in order, on the calling thread. Returns OK when the server ends the
  /// stream (timeout) or `on_event` returns false; CANCELLED when
  /// `options.stop` is notified; OUT_OF_RANGE when
  /// `options.resource_version` is too old (410: list again, then watch from
  /// the list's version); CANCELLED after Shutdown; other errors as above.
  /// A stream that breaks is not retried here: the caller resumes from the
  /// last version it saw.
  virtual absl::Status Watch(
      const ResourceType& type, absl::string_view ns,
      const WatchOptions& options,
      const std::function<bool(const WatchEvent&)>& on_event) = 0;

  /// Deletes `name`; dependents go by `propagation`. NOT_FOUND when absent.
  virtual absl::Status Delete(
      const ResourceType& type, absl::string_view ns, absl::string_view name,
      Propagation propagation = Propagation::kBackground) = 0;

  /// The `scale` subresource (Deployments, StatefulSets): spec.replicas.
  virtual absl::StatusOr<int32_t> GetScale(const ResourceType& type,
                                           absl::string_view ns,
                                           absl::string_view name) = 0;
  virtual absl::Status SetScale(const ResourceType& type, absl::string_view ns,
                                absl::string_view name, int32_t replicas) = 0;

  /// The log of a container of pod `name` (`GET .../pods/{name}/log`, plain
  /// text) as the kubelet keeps it: stdout and stderr together. Errors:
  /// NOT_FOUND for an unknown pod; INVALID_ARGUMENT (400 BadRequest, with
  /// the kubelet's message) when the container is not the pod's, has not
  /// run yet ("container \"tether\" in pod \"p\" is waiting to start:
  /// ContainerCreating") or, with `previous`, never terminated ("previous
  /// terminated container ... not found"). A pod no node took yet has an
  /// empty log.
  virtual absl::StatusOr<std::string> PodLogs(absl::string_view ns,
                                              absl::string_view name,
                                              const PodLogOptions& options) = 0;

  /// The collection of `kind` in `api_version` ("kubeflow.org/v1"), as the
  /// API server's discovery lists it (GET /api/v1 or /apis/GROUP/VERSION),
  /// interned (InternResourceType) so ResourceTypeOf knows it from then on.
  /// Kinds with a constant are answered without a request. NOT_FOUND when
  /// the server does not serve that kind there.
  virtual absl::StatusOr<ResourceType> Discover(absl::string_view api_version,
                                                absl::string_view kind) = 0;

  /// Ends every Watch in flight with CANCELLED and makes later calls fail
  /// fast with CANCELLED. For shutdown; cannot be undone.
  virtual void Shutdown() = 0;
};

}  // namespace tether::kube

#endif  // TETHER_KUBE_KUBE_CLIENT_H_
