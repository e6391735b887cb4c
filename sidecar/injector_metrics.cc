#include "sidecar/injector_metrics.h"

#include "common/metrics_text.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tether::sidecar {

InjectorMetrics::InjectorMetrics(Clock* clock)
    : clock_(clock), registry_(std::make_unique<prometheus::Registry>()) {
  auto& reviews = prometheus::BuildCounter()
                      .Name("tether_injector_reviews_total")
                      .Help(
                          "Admission reviews answered: injected, skipped, "
                          "denied, or error (a bad request).")
                      .Register(*registry_);
  injected_ = &reviews.Add({{"outcome", "injected"}});
  skipped_ = &reviews.Add({{"outcome", "skipped"}});
  denied_ = &reviews.Add({{"outcome", "denied"}});
  error_ = &reviews.Add({{"outcome", "error"}});
  duration_ = &prometheus::BuildHistogram()
                   .Name("tether_injector_review_duration_seconds")
                   .Help("Admission review latency, from arrival to reply.")
                   .Register(*registry_)
                   .Add({}, DurationBuckets());
  auto& events = prometheus::BuildCounter()
                     .Name("tether_injector_events_total")
                     .Help(
                         "Kubernetes Events about reviews: recorded, "
                         "dropped (queue full) or failed (API server).")
                     .Register(*registry_);
  events_recorded_ = &events.Add({{"outcome", "recorded"}});
  events_dropped_ = &events.Add({{"outcome", "dropped"}});
  events_failed_ = &events.Add({{"outcome", "failed"}});
}

InjectorMetrics::~InjectorMetrics() = default;

void InjectorMetrics::ReviewEnded(absl::Time started, ReviewOutcome outcome) {
  switch (outcome) {
    case ReviewOutcome::kInjected:
      injected_->Increment();
      break;
    case ReviewOutcome::kSkipped:
      skipped_->Increment();
      break;
    case ReviewOutcome::kDenied:
      denied_->Increment();
      break;
    case ReviewOutcome::kError:
      error_->Increment();
      break;
  }
  duration_->Observe(absl::ToDoubleSeconds(clock_->Now() - started));
}

void InjectorMetrics::EventEnded(kube::EventOutcome outcome) {
  switch (outcome) {
    case kube::EventOutcome::kRecorded:
      events_recorded_->Increment();
      break;
    case kube::EventOutcome::kDropped:
      events_dropped_->Increment();
      break;
    case kube::EventOutcome::kFailed:
      events_failed_->Increment();
      break;
  }
}

}  // namespace tether::sidecar
