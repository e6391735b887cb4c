#ifndef TETHER_CONTROLPLANE_CODE_CODE_COLLECTOR_H_
#define TETHER_CONTROLPLANE_CODE_CODE_COLLECTOR_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "controlplane/code/code_store.h"

namespace tether::controlplane {

/// Keeps the code store from growing without bound (a `tether dev` session
/// uploads a revision per save): every `interval` it removes what no live
/// revision holds and is older than `grace` (CodeStore::CollectGarbage).
/// Thread-safe.
class CodeCollector {
 public:
  struct Options {
    /// Required; must outlive the collector.
    CodeStore* store = nullptr;
    /// Revisions to keep: what services are deployed at and what replicas
    /// serve (pulls send deltas against those). Required.
    std::function<absl::flat_hash_set<std::string>()> live_revisions;
    /// Time between collections; zero or less: RunOnce only, no thread.
    absl::Duration interval = absl::Minutes(10);
    /// Anything stored more recently stays: an upload finishing, a
    /// revision uploaded but not deployed yet.
    absl::Duration grace = absl::Hours(1);
    /// Paces the collections and dates the grace. Never null.
    Clock* clock = Clock::Real();
  };

  explicit CodeCollector(Options options);
  /// Stops the thread; a collection in progress finishes first.
  ~CodeCollector();
  CodeCollector(const CodeCollector&) = delete;
  CodeCollector& operator=(const CodeCollector&) = delete;

  /// One collection now.
  absl::StatusOr<GarbageStats> RunOnce();

 private:
  void Loop();

  const Options options_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: starts once the members above exist.
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_CODE_CODE_COLLECTOR_H_
