#ifndef TETHER_SIDECAR_INJECTOR_METRICS_H_
#define TETHER_SIDECAR_INJECTOR_METRICS_H_

#include <memory>

#include "absl/time/time.h"
#include "common/clock.h"
#include "kube/event_recorder.h"

namespace prometheus {
class Counter;
class Histogram;
class Registry;
}  // namespace prometheus

namespace tether::sidecar {

/// How an admission review ended.
enum class ReviewOutcome {
  kInjected,  // Allowed with a patch.
  kSkipped,   // Allowed unchanged.
  kDenied,    // allowed: false.
  kError,     // No review: a bad or too large request (4xx).
};

/// tether-injector's Prometheus metrics, served at its HTTP `/metrics`:
///
///   tether_injector_reviews_total{outcome}      "injected", "skipped",
///                                               "denied", "error"
///   tether_injector_review_duration_seconds     from the request's arrival
///                                               to the reply
///   tether_injector_events_total{outcome}       Kubernetes Events about
///                                               reviews: "recorded",
///                                               "dropped" (queue full),
///                                               "failed" (API refused)
///
/// Thread-safe.
class InjectorMetrics final {
 public:
  /// `clock` times reviews; it must outlive this.
  explicit InjectorMetrics(Clock* clock = Clock::Real());
  ~InjectorMetrics();

  InjectorMetrics(const InjectorMetrics&) = delete;
  InjectorMetrics& operator=(const InjectorMetrics&) = delete;

  /// A review request arrived; pass the result to ReviewEnded.
  absl::Time ReviewStarted() const { return clock_->Now(); }
  /// The review begun at `started` ended with `outcome`.
  void ReviewEnded(absl::Time started, ReviewOutcome outcome);
  /// Writing an Event ended with `outcome` (EventRecorder::Options's
  /// on_outcome).
  void EventEnded(kube::EventOutcome outcome);

  /// What `/metrics` serves.
  const prometheus::Registry& registry() const { return *registry_; }

 private:
  Clock* const clock_;
  const std::unique_ptr<prometheus::Registry> registry_;
  // Owned by registry_; set once in the constructor.
  prometheus::Counter* injected_;
  prometheus::Counter* skipped_;
  prometheus::Counter* denied_;
  prometheus::Counter* error_;
  prometheus::Histogram* duration_;
  prometheus::Counter* events_recorded_;
  prometheus::Counter* events_dropped_;
  prometheus::Counter* events_failed_;
};

}  // namespace tether::sidecar

#endif  // TETHER_SIDECAR_INJECTOR_METRICS_H_
