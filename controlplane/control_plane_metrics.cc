#include "controlplane/control_plane_metrics.h"

#include "common/metrics_text.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tether::controlplane {

ControlPlaneMetrics::ControlPlaneMetrics(Clock* clock)
    : clock_(clock), registry_(std::make_unique<prometheus::Registry>()) {
  prometheus::Registry& registry = *registry_;
  calls_ = &prometheus::BuildCounter()
                .Name("tether_calls_total")
                .Help("Call RPCs ended, by service and gRPC status.")
                .Register(registry);
  call_duration_ = &prometheus::BuildHistogram()
                        .Name("tether_call_duration_seconds")
                        .Help("Call RPC latency, from arrival to reply.")
                        .Register(registry);
  in_flight_ = &prometheus::BuildGauge()
                    .Name("tether_calls_in_flight")
                    .Help("Call RPCs running now.")
                    .Register(registry);
  auto& deploys = prometheus::BuildCounter()
                      .Name("tether_deploys_total")
                      .Help(
                          "Deploys ended: ok, failed, or aborted "
                          "(superseded or service deleted).")
                      .Register(registry);
  deploys_ok_ = &deploys.Add({{"outcome", "ok"}});
  deploys_failed_ = &deploys.Add({{"outcome", "failed"}});
  deploys_aborted_ = &deploys.Add({{"outcome", "aborted"}});
  ttl_actions_ = &prometheus::BuildCounter()
                      .Name("tether_ttl_actions_total")
                      .Help("Inactivity-TTL actions taken on services.")
                      .Register(registry);
  ttl_actions_->Add({{"action", "scale_to_zero"}});
  ttl_actions_->Add({{"action", "delete"}});
  auto& wakeups = prometheus::BuildCounter()
                      .Name("tether_wakeups_total")
                      .Help("Scale-from-zero wake-ups ended.")
                      .Register(registry);
  wakeups_ok_ = &wakeups.Add({{"outcome", "ok"}});
  wakeups_failed_ = &wakeups.Add({{"outcome", "failed"}});
  wake_duration_ = &prometheus::BuildHistogram()
                        .Name("tether_wake_duration_seconds")
                        .Help(
                            "Time from a call to a scaled-to-zero service "
                            "until a replica is ready.")
                        .Register(registry)
                        .Add({}, DurationBuckets());
  attached_agents_ = &prometheus::BuildGauge()
                          .Name("tether_attached_agents")
                          .Help("Agents with a live Attach stream.")
                          .Register(registry)
                          .Add({});
  auto& otlp = prometheus::BuildCounter()
                   .Name("tether_otlp_reports_total")
                   .Help("OTLP exports received, by result.")
                   .Register(registry);
  otlp_accepted_ = &otlp.Add({{"result", "accepted"}});
  otlp_rejected_ = &otlp.Add({{"result", "rejected"}});
  otlp_points_rejected_ = &prometheus::BuildCounter()
                               .Name("tether_otlp_data_points_rejected_total")
                               .Help("OTLP data points rejected.")
                               .Register(registry)
                               .Add({});
}

ControlPlaneMetrics::~ControlPlaneMetrics() = default;

ControlPlaneMetrics::ServiceSeries& ControlPlaneMetrics::SeriesLocked(
    const std::string& service) {
  std::unique_ptr<ServiceSeries>& series = services_[service];
  if (series == nullptr) {
    series = std::make_unique<ServiceSeries>();
    series->name = service;
    series->duration =
        &call_duration_->Add({{"service", service}}, DurationBuckets());
    series->in_flight = &in_flight_->Add({{"service", service}});
    // "ok" from the start, so rate() has a series before the first call.
    series->calls[0] = &calls_->Add({{"service", service}, {"outcome", "ok"}});
  }
  return *series;
}

void ControlPlaneMetrics::ServiceAdded(const std::string& service) {
  absl::MutexLock lock(&mu_);
  SeriesLocked(service);
}

void ControlPlaneMetrics::ServiceDeleted(const std::string& service) {
  absl::MutexLock lock(&mu_);
  const auto it = services_.find(service);
  if (it == services_.end() || service.empty()) return;
  RemoveSeries(*it->second);
  services_.erase(it);
}

void ControlPlaneMetrics::RemoveSeries(ServiceSeries& series) {
  for (prometheus::Counter* counter : series.calls) {
    if (counter != nullptr) calls_->Remove(counter);
  }
  call_duration_->Remove(series.duration);
  in_flight_->Remove(series.in_flight);
}

ControlPlaneMetrics::CallStart ControlPlaneMetrics::CallStarted(
    const std::string& service) {
  CallStart start;
  {
    absl::MutexLock lock(&mu_);
    const auto it = services_.find(service);
    start.known_service = it != services_.end() && !service.empty();
    (start.known_service ? *it->second : SeriesLocked(""))
        .in_flight->Increment();
  }
  start.time = clock_->Now();
  return start;
}

void ControlPlaneMetrics::CallFinished(const std::string& service,
                                       CallStart start, absl::StatusCode code) {
  const double seconds = absl::ToDoubleSeconds(clock_->Now() - start.time);
  int index = static_cast<int>(code);
  if (index < 0 || index >= kCodes) {
    index = static_cast<int>(absl::StatusCode::kUnknown);
  }
  // Under the lock: ServiceDeleted frees the children.
  absl::MutexLock lock(&mu_);
  const auto it = services_.find(start.known_service ? service : "");
  // The service was deleted while the call ran: its series are gone.
  if (it == services_.end()) return;
  ServiceSeries& series = *it->second;
  series.in_flight->Decrement();
  series.duration->Observe(seconds);
  prometheus::Counter*& counter = series.calls[index];
  if (counter == nullptr) {
    counter = &calls_->Add(
        {{"service", series.name},
         {"outcome", OutcomeLabel(static_cast<absl::StatusCode>(index))}});
  }
  counter->Increment();
}

void ControlPlaneMetrics::DeployEnded(const absl::Status& status) {
  if (status.ok()) {
    deploys_ok_->Increment();
  } else if (absl::IsAborted(status)) {
    deploys_aborted_->Increment();
  } else {
    deploys_failed_->Increment();
  }
}

void ControlPlaneMetrics::TtlAction(std::string_view action) {
  ttl_actions_->Add({{"action", std::string(action)}}).Increment();
}

void ControlPlaneMetrics::WakeEnded(bool ok, absl::Duration duration) {
  (ok ? wakeups_ok_ : wakeups_failed_)->Increment();
  wake_duration_->Observe(absl::ToDoubleSeconds(duration));
}

void ControlPlaneMetrics::AgentAttached() { attached_agents_->Increment(); }

void ControlPlaneMetrics::AgentDetached() { attached_agents_->Decrement(); }

void ControlPlaneMetrics::OtlpReport(bool accepted, int64_t rejected_points) {
  (accepted ? otlp_accepted_ : otlp_rejected_)->Increment();
  if (rejected_points > 0) {
    otlp_points_rejected_->Increment(static_cast<double>(rejected_points));
  }
}

}  // namespace tether::controlplane
