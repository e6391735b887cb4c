#ifndef TETHER_CONTROLPLANE_INJECTION_RECONCILER_H_
#define TETHER_CONTROLPLANE_INJECTION_RECONCILER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "controlplane/uninjected_pods.h"
#include "kube/event_recorder.h"
#include "kube/informer.h"
#include "kube/kube_client.h"
#include "nlohmann/json.hpp"

namespace tether::controlplane {

/// Finds the pods of one namespace labelled tether.dev/inject=true that run
/// without the agent (neither tether.dev/status nor an agent container:
/// kube::AgentAlreadyThere) and are not being deleted: admitted while
/// tether-injector was down, since the webhook would have injected or
/// refused them. Each gets one Warning Event TetherNotInjected on its owner
/// (kube::EventSubject) when first seen, and is listed until it is deleted
/// or replaced by an injected pod.
///
/// Thread-safe; the informer calls in on its own thread.
class InjectionReconciler final : public UninjectedPods,
                                  private kube::Informer::Handler {
 public:
  struct Options {
    /// Not owned; must outlive the reconciler. Required.
    kube::KubeClient* client = nullptr;
    /// Records TetherNotInjected. Not owned; must outlive the reconciler.
    /// Required.
    kube::EventRecorder* events = nullptr;
    /// The namespace watched. Required.
    std::string ns;
    /// Watch retry backoff (kube/informer.h).
    Backoff::Options watch_backoff;
    /// For the backoff. Not owned; never null.
    Clock* clock = Clock::Real();
  };

  /// INVALID_ARGUMENT naming the field when one is missing; starts
  /// watching.
  static absl::StatusOr<std::unique_ptr<InjectionReconciler>> Create(
      Options options);
  /// Stops watching.
  ~InjectionReconciler() override;

  std::vector<tether::v1::UninjectedPod> List() const override;

 private:
  explicit InjectionReconciler(Options options)
      : options_(std::move(options)) {}

  void OnUpsert(const nlohmann::json& pod) override;
  void OnDelete(const nlohmann::json& last_state) override;

  const Options options_;
  mutable absl::Mutex mu_;
  // Pods without the agent, by name.
  std::map<std::string, tether::v1::UninjectedPod> pods_ ABSL_GUARDED_BY(mu_);
  // Last: stopped first, while what its calls use still exists.
  std::unique_ptr<kube::Informer> informer_;
};

}  // namespace tether::controlplane

#endif  // TETHER_CONTROLPLANE_INJECTION_RECONCILER_H_
