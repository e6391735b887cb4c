#ifndef TETHER_KUBE_INFORMER_H_
#define TETHER_KUBE_INFORMER_H_

// Keeps a Handler told about the objects of one type in one namespace that
// match a label selector, the way client-go's reflector does: LIST, then
// WATCH from the list's resourceVersion, resuming from the last version seen
// (BOOKMARKs advance it). When that version has expired (OUT_OF_RANGE, the
// API server's 410) it lists again and reports only the difference to what
// the handler was last told, so a watch gap costs no duplicate upserts.

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "kube/kube_client.h"
#include "kube/resource_type.h"
#include "nlohmann/json.hpp"

namespace tether::kube {

/// Thread-safe: Create and the destructor may run on any thread; everything
/// else happens on the informer's own thread, which alone owns the cache.
class Informer {
 public:
  /// Called on the informer's thread, one call at a time, in the order of
  /// the changes. Must not destroy the Informer.
  class Handler {
   public:
    virtual ~Handler() = default;
    /// An object was added or changed (its resourceVersion moved). Objects
    /// always carry apiVersion and kind, also when they came from a LIST.
    virtual void OnUpsert(const nlohmann::json& object) = 0;
    /// An object OnUpsert reported is gone; `last_state` is the deleted
    /// object, or the last state seen when the deletion was only noticed by
    /// a later LIST.
    virtual void OnDelete(const nlohmann::json& last_state) = 0;
    /// A LIST's differences have all been delivered: the handler's view
    /// matches the server's at that version.
    virtual void OnSynced() {}
    /// A LIST or WATCH failed, or a WATCH ended at once without events,
    /// and will be retried after a backoff; for logs and metrics. Not called
    /// for expired versions, which just relist.
    virtual void OnError(const absl::Status& status) {}
  };

  struct Options {
    /// Required; must outlive the Informer.
    KubeClient* client = nullptr;
    /// Required, e.g. kDeployments.
    ResourceType type;
    /// Required.
    std::string ns;
    /// Empty: every object in `ns`.
    std::string label_selector;
    /// Waits after a failed LIST or WATCH; starts over after a call that
    /// succeeds.
    Backoff::Options backoff;
    /// Time for the backoff. Not owned; never null.
    Clock* clock = Clock::Real();
    /// Passed as WatchOptions::timeout: how long one WATCH may last before
    /// the informer watches again from the last version.
    absl::Duration watch_timeout = absl::Minutes(5);
  };

  /// Validates `options` (INVALID_ARGUMENT naming the field) and starts the
  /// informer's thread. `handler` is required and must outlive the Informer.
  static absl::StatusOr<std::unique_ptr<Informer>> Create(Options options,
                                                          Handler* handler);

  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;
  /// Stops the thread: ends a WATCH in flight through WatchOptions::stop
  /// and any backoff wait, then joins. No handler call follows.
  ~Informer();

 private:
  Informer(Options options, Handler* handler);

  void Run();
  // LISTs and reports the difference to `known_`, then OnSynced.
  absl::Status Relist();
  // WATCHes from `resource_version_` until the stream ends.
  absl::Status WatchOnce();
  void HandleEvent(const WatchEvent& event);

  const Options options_;
  Handler* const handler_;
  // Held while notifying stop_, so a backoff wait (a condition on mu_)
  // wakes up.
  absl::Mutex mu_;
  absl::Notification stop_;
  // Only touched by thread_: what the handler was last told, by name, and
  // the version to watch from.
  std::map<std::string, nlohmann::json> known_;
  std::string resource_version_;
  std::thread thread_;  // Last: starts once the members above exist.
};

}  // namespace tether::kube

#endif  // TETHER_KUBE_INFORMER_H_
