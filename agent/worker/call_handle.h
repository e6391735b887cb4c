#ifndef TETHER_AGENT_WORKER_CALL_HANDLE_H_
#define TETHER_AGENT_WORKER_CALL_HANDLE_H_

// The caller's hold on one call in flight on a worker.

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace tether::agent {

/// Lets whoever started a call cancel it or grant it stream credit while it
/// runs, without holding on to the worker it runs on (which may die and go
/// away meanwhile).
///
/// A Cancel before the call reached a worker is remembered and applied when
/// it does; once the call completed (its Done ran, or the worker exited),
/// both are no-ops. Thread-safe; Cancel and GrantCredit never block on the
/// worker and may be called from a gRPC reactor.
class CallHandle {
 public:
  /// The worker side, implemented by WorkerProcess.
  class Target {
   public:
    virtual void CancelCall(uint64_t id) = 0;
    virtual void GrantCall(uint64_t id, uint32_t items) = 0;

   protected:
    ~Target() = default;
  };

  CallHandle() = default;
  CallHandle(const CallHandle&) = delete;
  CallHandle& operator=(const CallHandle&) = delete;

  /// Stops the call: its Done then runs with CANCELLED (or ABORTED when the
  /// worker had to be killed to stop it), unless it finished first.
  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);
  /// A streamed call may send `items` more items.
  void GrantCredit(uint32_t items) ABSL_LOCKS_EXCLUDED(mu_);
  /// Cancel was called.
  bool cancelled() const ABSL_LOCKS_EXCLUDED(mu_);

  /// For WorkerProcess: the call now runs as `id` on `target`; applies an
  /// earlier Cancel. `target` must stay valid until Detach.
  void Attach(Target* target, uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  /// For WorkerProcess: the call completed; returns once no Cancel or
  /// GrantCredit is reaching the target any more.
  void Detach() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  // Held while calling into the target, so Detach waits out such calls.
  Target* target_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t id_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tether::agent

#endif  // TETHER_AGENT_WORKER_CALL_HANDLE_H_
