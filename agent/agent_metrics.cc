#include "agent/agent_metrics.h"

#include "absl/status/status.h"
#include "common/metrics_text.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tether::agent {
namespace {

// Loads start workers and import user code: a tenth of a second to minutes.
const prometheus::Histogram::BucketBoundaries& ReloadBuckets() {
  static const auto* const kBuckets =
      new prometheus::Histogram::BucketBoundaries{
          0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
  return *kBuckets;
}

}  // namespace

AgentMetrics::AgentMetrics(Clock* clock)
    : clock_(clock), registry_(std::make_unique<prometheus::Registry>()) {
  prometheus::Registry& registry = *registry_;
  calls_ = &prometheus::BuildCounter()
                .Name("tether_agent_calls_total")
                .Help("Invoke calls ended, by gRPC status.")
                .Register(registry);
  // "ok" from the start, so rate() has a series before the first call.
  calls_by_code_[0] = &calls_->Add({{"outcome", "ok"}});
  call_duration_ = &prometheus::BuildHistogram()
                        .Name("tether_agent_call_duration_seconds")
                        .Help("Invoke call latency, from arrival to reply.")
                        .Register(registry)
                        .Add({}, DurationBuckets());
  in_flight_ = &prometheus::BuildGauge()
                    .Name("tether_agent_calls_in_flight")
                    .Help("Invoke calls running now.")
                    .Register(registry)
                    .Add({});
  auto& syncs = prometheus::BuildCounter()
                    .Name("tether_agent_syncs_total")
                    .Help("Code pulls from tetherd ended.")
                    .Register(registry);
  syncs_ok_ = &syncs.Add({{"outcome", "ok"}});
  syncs_failed_ = &syncs.Add({{"outcome", "failed"}});
  auto& reloads = prometheus::BuildCounter()
                      .Name("tether_agent_reloads_total")
                      .Help("Revision loads (workers started on new code).")
                      .Register(registry);
  reloads_ok_ = &reloads.Add({{"outcome", "ok"}});
  reloads_failed_ = &reloads.Add({{"outcome", "failed"}});
  reload_duration_ = &prometheus::BuildHistogram()
                          .Name("tether_agent_reload_duration_seconds")
                          .Help("Time to load a revision into new workers.")
                          .Register(registry)
                          .Add({}, ReloadBuckets());
}

AgentMetrics::~AgentMetrics() = default;

absl::Time AgentMetrics::CallStarted() {
  in_flight_->Increment();
  return clock_->Now();
}

void AgentMetrics::CallFinished(absl::Time started, grpc::StatusCode code) {
  in_flight_->Decrement();
  call_duration_->Observe(absl::ToDoubleSeconds(clock_->Now() - started));
  int index = static_cast<int>(code);
  if (index < 0 || index >= kCodes) index = grpc::StatusCode::UNKNOWN;
  prometheus::Counter* counter =
      calls_by_code_[index].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Racing first calls both Add the same labels and get the same child.
    counter = &calls_->Add(
        {{"outcome", OutcomeLabel(static_cast<absl::StatusCode>(index))}});
    calls_by_code_[index].store(counter, std::memory_order_release);
  }
  counter->Increment();
}

void AgentMetrics::SyncEnded(bool ok) {
  (ok ? syncs_ok_ : syncs_failed_)->Increment();
}

void AgentMetrics::ReloadEnded(absl::Time started, bool ok) {
  (ok ? reloads_ok_ : reloads_failed_)->Increment();
  reload_duration_->Observe(absl::ToDoubleSeconds(clock_->Now() - started));
}

}  // namespace tether::agent
